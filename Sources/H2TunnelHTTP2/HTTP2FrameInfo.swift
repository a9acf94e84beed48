internal import CNGHTTP2

/// One frame as seen on the wire, decoded for people (h2probe) rather than for the tunnel.
public struct HTTP2FrameInfo: Sendable {
    public enum Direction: String, Sendable { case sent, received }

    public struct Setting: Sendable, Equatable {
        public var id: Int32
        public var name: String
        public var value: UInt32
    }

    public var direction: Direction
    public var type: UInt8
    public var flags: UInt8
    public var streamID: Int32
    public var length: Int
    public var settings: [Setting] = []
    public var headers: [HTTP2Headers.Field] = []
    public var errorCode: UInt32?
    public var lastStreamID: Int32?
    public var debugData: String?
    public var windowIncrement: Int32?
    public var pingData: [UInt8]?

    /// RFC 9113 §6 frame type names; unknown types print as their number.
    public var typeName: String {
        Int(type) < Self.names.count && !Self.names[Int(type)].isEmpty ? Self.names[Int(type)] : "UNKNOWN(\(type))"
    }

    private static let names = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING",
                                "GOAWAY", "WINDOW_UPDATE", "CONTINUATION", "ALTSVC", "", "", "", "", "", "ORIGIN",
                                "PRIORITY_UPDATE"]

    /// Flag names as they apply to this frame type.
    public var flagNames: [String] {
        var out: [String] = []
        switch type {
        case 0: if flags & 0x1 != 0 { out.append("END_STREAM") }; if flags & 0x8 != 0 { out.append("PADDED") }
        case 1:
            if flags & 0x1 != 0 { out.append("END_STREAM") }
            if flags & 0x4 != 0 { out.append("END_HEADERS") }
            if flags & 0x8 != 0 { out.append("PADDED") }
            if flags & 0x20 != 0 { out.append("PRIORITY") }
        case 4, 6: if flags & 0x1 != 0 { out.append("ACK") }
        case 9: if flags & 0x4 != 0 { out.append("END_HEADERS") }
        default: break
        }
        return out
    }

    public var errorName: String? { errorCode.map(HTTP2ErrorCode.name) }

    /// RFC 9113 §6.5.2, RFC 8441 §3, RFC 9218 §2.1 setting names.
    public static func settingName(_ id: Int32) -> String {
        switch id {
        case 1: "SETTINGS_HEADER_TABLE_SIZE"
        case 2: "SETTINGS_ENABLE_PUSH"
        case 3: "SETTINGS_MAX_CONCURRENT_STREAMS"
        case 4: "SETTINGS_INITIAL_WINDOW_SIZE"
        case 5: "SETTINGS_MAX_FRAME_SIZE"
        case 6: "SETTINGS_MAX_HEADER_LIST_SIZE"
        case 8: "SETTINGS_ENABLE_CONNECT_PROTOCOL"
        case 9: "SETTINGS_NO_RFC7540_PRIORITIES"
        default: "UNKNOWN(\(id))"
        }
    }

    init(_ frame: UnsafePointer<nghttp2_frame>, direction: Direction, headers: HTTP2Headers?) {
        let header = frame.pointee.hd
        self.direction = direction
        type = header.type
        flags = header.flags
        streamID = header.stream_id
        length = header.length
        switch UInt32(header.type) {
        case NGHTTP2_SETTINGS.rawValue:
            let settings = frame.pointee.settings
            settings.iv.map { entries in
                self.settings = (0..<settings.niv).map {
                    Setting(id: entries[$0].settings_id, name: Self.settingName(entries[$0].settings_id), value: entries[$0].value)
                }
            }
        case NGHTTP2_HEADERS.rawValue:
            if direction == .sent {
                let block = frame.pointee.headers
                self.headers = (0..<block.nvlen).map { index in
                    let nv = block.nva[index]
                    return HTTP2Headers.Field(name: String(decoding: UnsafeBufferPointer(start: nv.name, count: nv.namelen), as: UTF8.self),
                                              value: String(decoding: UnsafeBufferPointer(start: nv.value, count: nv.valuelen), as: UTF8.self))
                }
            } else {
                self.headers = headers?.fields ?? []
            }
        case NGHTTP2_RST_STREAM.rawValue:
            errorCode = frame.pointee.rst_stream.error_code
        case NGHTTP2_GOAWAY.rawValue:
            let goaway = frame.pointee.goaway
            errorCode = goaway.error_code
            lastStreamID = goaway.last_stream_id
            if let data = goaway.opaque_data, goaway.opaque_data_len > 0 {
                debugData = String(decoding: UnsafeBufferPointer(start: data, count: goaway.opaque_data_len), as: UTF8.self)
            }
        case NGHTTP2_WINDOW_UPDATE.rawValue:
            windowIncrement = frame.pointee.window_update.window_size_increment
        case NGHTTP2_PING.rawValue:
            var opaque = frame.pointee.ping.opaque_data
            pingData = withUnsafeBytes(of: &opaque) { Array($0) }
        default:
            break
        }
    }
}

/// Sees every frame sent and received, synchronously, from inside nghttp2's callbacks:
/// it must only record, never call back into the connection.
public protocol HTTP2FrameObserver: AnyObject {
    func observe(_ frame: HTTP2FrameInfo)
}
