// swift-tools-version:6.1
import PackageDescription


let package = Package(
    name: "h2tunnel",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "relay", targets: ["relay"]),
        .executable(name: "agent", targets: ["agent"]),
        .executable(name: "demo-app", targets: ["demo-app"]),
        .executable(name: "h2probe", targets: ["h2probe"]),
        .library(name: "H2TunnelAgent", targets: ["H2TunnelAgent"]),
        .library(name: "H2TunnelRelay", targets: ["H2TunnelRelay"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        // Sign-in, tickets and the agent's HTTP front (README "Why these packages").
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // Already resolved through Hummingbird; the agent's HTTP/2 front sets what HTTP2Channel does not expose.
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        // Operations (README "Why these packages"): one settings table read from flags,
        // H2TUNNEL_* variables and a JSON or YAML file; ServiceGroup; Prometheus metrics.
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0",
                 traits: [.defaults, "YAML", "CommandLineArguments"]),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // C libraries from Debian, found through pkg-config.
        .systemLibrary(name: "CNGHTTP2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // glibc's <malloc.h>, for allocator tuning on the data path.
        .systemLibrary(name: "CMalloc"),

        // Pure pieces shared by relay and agent: ClientHello reader, backoff, config, addresses.
        .target(name: "H2TunnelCore", dependencies: [
            "CMalloc", "H2TunnelSocket",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Configuration", package: "swift-configuration"),
        ]),
        // A channel's socket written with sendmsg on a descriptor of our own, past NIO's write path.
        .target(name: "H2TunnelSocket", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // TLS on OpenSSL through a BIO over NIO buffers; knows nothing of tunnels.
        .target(name: "H2TunnelTLS", dependencies: [
            "COpenSSL", "H2TunnelSocket",
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // HTTP/2 on nghttp2, both roles, on a channel or straight on TLS; knows nothing of tunnels.
        .target(name: "H2TunnelHTTP2", dependencies: [
            "CNGHTTP2", "H2TunnelSocket", "H2TunnelTLS",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The relay's store: users, tenants, grants, ticket ids; SQLite behind one protocol.
        .target(name: "H2TunnelStore", dependencies: [
            "COpenSSL",
            .product(name: "SQLiteNIO", package: "sqlite-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Single-use sign-in tickets: Ed25519 JWTs the relay signs and the agent verifies.
        .target(name: "H2TunnelTickets", dependencies: [
            .product(name: "JWTKit", package: "jwt-kit"),
        ]),
        // The relay's own site: sign-in, the user's companies, tickets.
        .target(name: "H2TunnelRelayWeb", dependencies: [
            "H2TunnelCore", "H2TunnelStore", "H2TunnelTickets",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdHTTP2", package: "hummingbird"),
            .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
            .product(name: "Mustache", package: "swift-mustache"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "H2TunnelRelay", dependencies: [
            "H2TunnelCore", "H2TunnelTLS", "H2TunnelHTTP2", "H2TunnelStore", "H2TunnelRelayWeb",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .target(name: "H2TunnelAgent", dependencies: [
            "H2TunnelCore", "H2TunnelTLS", "H2TunnelHTTP2", "H2TunnelTickets",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdHTTP2", package: "hummingbird"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "NIOHTTPTypesHTTP2", package: "swift-nio-extras"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The debugging tool: frames, TLS, routes, a stand-in relay.
        .target(name: "H2Probe", dependencies: [
            "H2TunnelCore", "H2TunnelTLS", "H2TunnelHTTP2",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        .executableTarget(name: "h2probe", dependencies: [
            "H2Probe", "H2TunnelCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .executableTarget(name: "relay", dependencies: [
            "H2TunnelRelay", "H2TunnelCore", "H2TunnelStore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "agent", dependencies: [
            "H2TunnelAgent", "H2TunnelCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // Tools/bench --cpu's floors: the bare TCP proxy of Tools/bench.d/floor/c on NIO,
        // and in Swift on epoll without NIO.
        .executableTarget(name: "floor-proxy-nio", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ], path: "Tools/bench.d/floor/nio"),
        .systemLibrary(name: "CEpoll", path: "Tools/bench.d/floor/CEpoll"),
        .executableTarget(name: "floor-proxy-epoll", dependencies: ["CEpoll"], path: "Tools/bench.d/floor/epoll"),
        .executableTarget(name: "demo-app", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "H2TunnelCoreTests", dependencies: [
            "H2TunnelCore", "H2TunnelTLS", "H2TunnelHTTP2",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .testTarget(name: "H2TunnelStoreTests", dependencies: ["H2TunnelStore", "H2TunnelTickets"]),
        .testTarget(name: "H2TunnelAgentTests", dependencies: [
            "H2TunnelAgent", "H2TunnelCore",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        .testTarget(name: "H2TunnelRelayWebTests", dependencies: [
            "H2TunnelRelayWeb", "H2TunnelStore", "H2TunnelTickets", "H2TunnelCore",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
    ]
)
