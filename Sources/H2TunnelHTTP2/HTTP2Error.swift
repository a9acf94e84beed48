internal import CNGHTTP2

/// Why a connection or a stream could not do what was asked.
public struct HTTP2Error: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }

    static func nghttp2(_ call: String, _ code: Int) -> HTTP2Error {
        HTTP2Error("\(call): \(String(cString: nghttp2_strerror(Int32(code))))")
    }
}

/// RFC 9113 §7 error codes used by the tunnel.
public enum HTTP2ErrorCode {
    public static let noError: UInt32 = 0x0
    public static let protocolError: UInt32 = 0x1
    public static let internalError: UInt32 = 0x2
    public static let refusedStream: UInt32 = 0x7
    public static let cancel: UInt32 = 0x8
    public static let connectError: UInt32 = 0xa

    public static func name(_ code: UInt32) -> String { String(cString: nghttp2_http2_strerror(code)) }
}
