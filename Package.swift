// swift-tools-version:6.0
import PackageDescription

/// Release builds skip the runtime exclusivity checks (swift_beginAccess on every
/// class-property access of the data path, ~1–2 % of relay CPU); debug builds, which
/// run the tests, keep them.
let dataPathSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

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
    ],
    targets: [
        // C libraries from Debian, found through pkg-config.
        .systemLibrary(name: "CNGHTTP2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // glibc's <malloc.h>, for allocator tuning on the data path.
        .systemLibrary(name: "CMalloc"),

        // Pure pieces shared by relay and agent: ClientHello reader, backoff, config, addresses.
        .target(name: "H2TunnelCore", dependencies: [
            "CMalloc",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: dataPathSettings),
        // TLS on OpenSSL through a BIO over NIO buffers; knows nothing of tunnels.
        .target(name: "H2TunnelTLS", dependencies: [
            "COpenSSL",
            .product(name: "NIOCore", package: "swift-nio"),
        ], swiftSettings: dataPathSettings),
        // HTTP/2 on nghttp2, both roles; knows nothing of tunnels.
        .target(name: "H2TunnelHTTP2", dependencies: [
            "CNGHTTP2",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: dataPathSettings),
        .target(name: "H2TunnelRelay", dependencies: [
            "H2TunnelCore", "H2TunnelTLS", "H2TunnelHTTP2",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: dataPathSettings),
        .target(name: "H2TunnelAgent", dependencies: [
            "H2TunnelCore", "H2TunnelTLS", "H2TunnelHTTP2",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: dataPathSettings),
        // The debugging tool: frames, TLS, routes, a stand-in relay.
        .target(name: "H2Probe", dependencies: [
            "H2TunnelCore", "H2TunnelTLS", "H2TunnelHTTP2",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        .executableTarget(name: "h2probe", dependencies: [
            "H2Probe",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .executableTarget(name: "relay", dependencies: [
            "H2TunnelRelay", "H2TunnelCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "agent", dependencies: [
            "H2TunnelAgent", "H2TunnelCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "demo-app", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "H2TunnelCoreTests", dependencies: [
            "H2TunnelCore", "H2TunnelTLS", "H2TunnelHTTP2",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
    ]
)
