import NIOCore
internal import CNGHTTP2

/// Creating the nghttp2 session, and the C callbacks: one top-level thunk each, all of
/// which turn `user_data` back into the handler with `handler(from:)` and only record events.
extension HTTP2ConnectionHandler {
    func makeSession(role: Role, settings: HTTP2Settings) throws -> OpaquePointer {
        var callbacks: OpaquePointer? = nil
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else {
            throw HTTP2Error("nghttp2_session_callbacks_new failed")
        }
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeadersThunk)
        nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeaderThunk)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameRecvThunk)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunkThunk)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamCloseThunk)
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, onFrameSendThunk)
        nghttp2_session_callbacks_set_send_data_callback(callbacks, sendDataThunk)
        nghttp2_session_callbacks_set_data_source_read_length_callback(callbacks, dataLengthThunk)

        var option: OpaquePointer? = nil
        guard nghttp2_option_new(&option) == 0, let option else { throw HTTP2Error("nghttp2_option_new failed") }
        defer { nghttp2_option_del(option) }
        // Window credit follows consumption, not receipt: see HTTP2Stream.consume.
        nghttp2_option_set_no_auto_window_update(option, 1)
        nghttp2_option_set_max_send_header_block_length(option, settings.maxHeaderListSize)
        if role == .server {
            nghttp2_option_set_max_deflate_dynamic_table_size(option, 4096)
            if !settings.limitsPeerResets {
                _ = h2t_set_stream_reset_rate_limit(option, .max, .max)
            }
        }

        var session: OpaquePointer? = nil
        let userData = Unmanaged.passUnretained(self).toOpaque()
        let rc = role == .client
            ? nghttp2_session_client_new2(&session, callbacks, userData, option)
            : nghttp2_session_server_new2(&session, callbacks, userData, option)
        guard rc == 0, let session else { throw HTTP2Error.nghttp2("session_new", Int(rc)) }

        // Our SETTINGS go first, even when empty, or the peer sees only the preface.
        var entries: [nghttp2_settings_entry] = [
            .init(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: UInt32(settings.maxConcurrentStreams)),
            .init(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: UInt32(settings.initialStreamWindow)),
            .init(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: UInt32(settings.maxHeaderListSize)),
            .init(settings_id: Int32(NGHTTP2_SETTINGS_MAX_FRAME_SIZE.rawValue), value: UInt32(settings.maxFrameSize)),
            // RFC 9218 §2.1: the tunnel does not use the RFC 7540 priority tree.
            .init(settings_id: Int32(NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES.rawValue), value: 1),
        ]
        if role == .client {
            entries.append(.init(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0))
        }
        if settings.enableConnectProtocol {
            entries.append(.init(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL.rawValue), value: 1))
        }
        var rc2 = nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count)
        guard rc2 == 0 else { throw HTTP2Error.nghttp2("submit_settings", Int(rc2)) }
        rc2 = nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(settings.connectionWindow))
        guard rc2 == 0 else { throw HTTP2Error.nghttp2("set_local_window_size", Int(rc2)) }
        return session
    }

    /// A data provider that reads the stream's queue (`HTTP2Stream.fill`).
    func dataProvider() -> nghttp2_data_provider {
        var provider = nghttp2_data_provider()
        provider.read_callback = dataReadThunk
        return provider
    }

    /// Calls `body` with an `nghttp2_nv` array for `fields`; nghttp2 copies it before returning.
    func withHeaderBlock<R>(_ fields: [(String, String)], _ body: (UnsafeMutablePointer<nghttp2_nv>, Int) -> R) -> R {
        let total = fields.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count }
        let storage = UnsafeMutablePointer<UInt8>.allocate(capacity: max(total, 1))
        let nva = UnsafeMutablePointer<nghttp2_nv>.allocate(capacity: max(fields.count, 1))
        defer {
            storage.deallocate()
            nva.deallocate()
        }
        var offset = 0
        /// Copies `text`'s UTF-8 at `offset`: in one move for a native string (byte by byte
        /// through `utf8` was ~7,000 instructions for a CONNECT's fields at the relay).
        func append(_ text: String) -> (UnsafeMutablePointer<UInt8>, Int) {
            let start = storage + offset
            let count = text.utf8.withContiguousStorageIfAvailable { bytes -> Int in
                if let base = bytes.baseAddress { start.update(from: base, count: bytes.count) }
                return bytes.count
            } ?? {
                var count = 0
                for byte in text.utf8 { start[count] = byte; count += 1 }
                return count
            }()
            offset += count
            return (start, count)
        }
        for (index, field) in fields.enumerated() {
            let (name, namelen) = append(field.0)
            let (value, valuelen) = append(field.1)
            (nva + index).initialize(to: nghttp2_nv(name: name, value: value, namelen: namelen, valuelen: valuelen,
                                                     flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
        }
        return body(nva, fields.count)
    }

    static func handler(from userData: UnsafeMutableRawPointer?) -> HTTP2ConnectionHandler {
        Unmanaged<HTTP2ConnectionHandler>.fromOpaque(userData!).takeUnretainedValue()
    }

    fileprivate func onBeginHeaders(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let id = frame.pointee.hd.stream_id
        if role == .server, frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST, streams[id] == nil {
            if isDraining || isClosed {
                _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, HTTP2ErrorCode.refusedStream)
                return 0
            }
            let stream = HTTP2Stream(id: id, connection: self)
            stream.headers = HTTP2Headers(capacity: HTTP2Headers.usualCount)
            streams[id] = stream
        } else if let stream = self.stream(id) {
            // A response or trailers replace what came before.
            stream.headers = HTTP2Headers(capacity: HTTP2Headers.usualCount)
        }
        return 0
    }

    fileprivate func onHeader(_ frame: UnsafePointer<nghttp2_frame>, _ name: UnsafeBufferPointer<UInt8>,
                              _ value: UnsafeBufferPointer<UInt8>) -> Int32 {
        guard let stream = self.stream(frame.pointee.hd.stream_id) else { return 0 }
        stream.headers.append(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
        return 0
    }

    fileprivate func onFrameSend(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        frameObserver?.observe(HTTP2FrameInfo(frame, direction: .sent, headers: nil))
        return 0
    }

    fileprivate func onFrameRecv(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let header = frame.pointee.hd
        if let frameObserver {
            frameObserver.observe(HTTP2FrameInfo(frame, direction: .received, headers: stream(header.stream_id)?.headers))
        }
        let endStream = header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        switch UInt32(header.type) {
        case NGHTTP2_HEADERS.rawValue:
            guard stream(header.stream_id) != nil else { return 0 }
            if role == .server && frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST {
                enqueue(.request(header.stream_id))
            } else {
                enqueue(.headers(header.stream_id))
            }
            if endStream { enqueue(.end(header.stream_id)) }
        case NGHTTP2_DATA.rawValue:
            if endStream { enqueue(.end(header.stream_id)) }
        case NGHTTP2_SETTINGS.rawValue:
            if header.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) == 0 { enqueue(.settings) }
        case NGHTTP2_PING.rawValue:
            if header.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) != 0 {
                var opaque = frame.pointee.ping.opaque_data
                enqueue(.pingAck(withUnsafeBytes(of: &opaque) { $0.loadUnaligned(as: UInt64.self) }))
            }
        case NGHTTP2_GOAWAY.rawValue:
            enqueue(.goaway(frame.pointee.goaway.error_code))
        default:
            break
        }
        return 0
    }

    fileprivate func onDataChunk(_ id: Int32, _ data: UnsafePointer<UInt8>, _ length: Int) -> Int32 {
        guard stream(id) != nil, let input else {
            // No owner for these bytes: give their window back at once.
            giveBackConnection(length)
            if let session { _ = nghttp2_session_consume_stream(session, id, length) }
            return 0
        }
        // A slice keeps its whole read buffer alive (up to 256 KiB) while it waits for a
        // slow socket, and flow control counts only the slice: a stalled SSE stream of
        // 200-byte events would hold 1,300× its window. A small payload (under 16 KiB and
        // a quarter of its buffer) is copied out; bulk frames, 16 KiB and up, stay
        // slices. So a stream pins at most 16× its window, and bulk data is not copied.
        if length < Self.copiedPayload && length * 4 < input.buffer.storageCapacity {
            enqueue(.data(id, ByteBuffer(bytes: UnsafeRawBufferPointer(start: data, count: length))))
            return 0
        }
        let offset = UnsafeRawPointer(data) - input.base
        guard let slice = input.buffer.getSlice(at: input.buffer.readerIndex + offset, length: length) else {
            return Int32(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue)
        }
        enqueue(.data(id, slice))
        return 0
    }

    fileprivate func onStreamClose(_ id: Int32, _ code: UInt32) -> Int32 {
        enqueue(.closed(id, code))
        return 0
    }

    fileprivate func readData(_ id: Int32, _ buffer: UnsafeMutablePointer<UInt8>, _ length: Int,
                              _ flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let stream = self.stream(id) else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
        return stream.fill(length: length, flags: &flags.pointee)
    }
}

private func onBeginHeadersThunk(_ session: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?,
                                 _ userData: UnsafeMutableRawPointer?) -> Int32 {
    HTTP2ConnectionHandler.handler(from: userData).onBeginHeaders(frame!)
}

private func onHeaderThunk(_ session: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?,
                           _ name: UnsafePointer<UInt8>?, _ nameLength: Int, _ value: UnsafePointer<UInt8>?,
                           _ valueLength: Int, _ flags: UInt8, _ userData: UnsafeMutableRawPointer?) -> Int32 {
    HTTP2ConnectionHandler.handler(from: userData).onHeader(
        frame!, UnsafeBufferPointer(start: name, count: nameLength), UnsafeBufferPointer(start: value, count: valueLength))
}

private func onFrameSendThunk(_ session: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?,
                              _ userData: UnsafeMutableRawPointer?) -> Int32 {
    HTTP2ConnectionHandler.handler(from: userData).onFrameSend(frame!)
}

private func onFrameRecvThunk(_ session: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?,
                              _ userData: UnsafeMutableRawPointer?) -> Int32 {
    HTTP2ConnectionHandler.handler(from: userData).onFrameRecv(frame!)
}

private func onDataChunkThunk(_ session: OpaquePointer?, _ flags: UInt8, _ streamID: Int32,
                              _ data: UnsafePointer<UInt8>?, _ length: Int, _ userData: UnsafeMutableRawPointer?) -> Int32 {
    HTTP2ConnectionHandler.handler(from: userData).onDataChunk(streamID, data!, length)
}

private func onStreamCloseThunk(_ session: OpaquePointer?, _ streamID: Int32, _ errorCode: UInt32,
                                _ userData: UnsafeMutableRawPointer?) -> Int32 {
    HTTP2ConnectionHandler.handler(from: userData).onStreamClose(streamID, errorCode)
}

private func dataReadThunk(_ session: OpaquePointer?, _ streamID: Int32, _ buffer: UnsafeMutablePointer<UInt8>?,
                           _ length: Int, _ flags: UnsafeMutablePointer<UInt32>?,
                           _ source: UnsafeMutablePointer<nghttp2_data_source>?, _ userData: UnsafeMutableRawPointer?) -> Int {
    HTTP2ConnectionHandler.handler(from: userData).readData(streamID, buffer!, length, flags!)
}

/// DATA frames as large as the windows, the peer's SETTINGS_MAX_FRAME_SIZE and
/// `dataFrameLimit` allow (nghttp2 otherwise stops at 16 KiB whatever the peer advertised).
private func dataLengthThunk(_ session: OpaquePointer?, _ frameType: UInt8, _ streamID: Int32,
                             _ connectionWindow: Int32, _ streamWindow: Int32, _ peerMaxFrame: UInt32,
                             _ userData: UnsafeMutableRawPointer?) -> Int {
    let handler = HTTP2ConnectionHandler.handler(from: userData)
    return min(Int(connectionWindow), Int(streamWindow), Int(peerMaxFrame), handler.dataFrameLimit)
}

private func sendDataThunk(_ session: OpaquePointer?, _ frame: UnsafeMutablePointer<nghttp2_frame>?,
                           _ header: UnsafePointer<UInt8>?, _ length: Int,
                           _ source: UnsafeMutablePointer<nghttp2_data_source>?, _ userData: UnsafeMutableRawPointer?) -> Int32 {
    HTTP2ConnectionHandler.handler(from: userData).sendData(streamID: frame!.pointee.hd.stream_id, header: header!, length: length)
}
