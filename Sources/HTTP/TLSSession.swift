import COpenSSL

/// One connection's TLS state over memory BIOs: the socket code moves ciphertext, this type
/// turns it into plaintext and back. Keeping OpenSSL off the fd means the same non-blocking
/// read/write path serves TCP and TLS, and WANT_READ/WANT_WRITE never leak into it.
final class TLSSession {
    enum Failure: Error { case handshake(String), protocolError(String) }

    private let ssl: OpaquePointer
    private let input: OpaquePointer  // ciphertext from the peer
    private let output: OpaquePointer  // ciphertext to the peer
    private(set) var handshakeDone = false
    /// The peer sent close_notify.
    private(set) var peerClosed = false

    init?(context: TLSContext) {
        guard let ssl = SSL_new(context.context) else { return nil }
        guard let input = BIO_new(BIO_s_mem()), let output = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            return nil
        }
        // An empty memory BIO must report "retry", not EOF, so SSL_read says WANT_READ.
        _ = BIO_ctrl(input, BIO_C_SET_BUF_MEM_EOF_RETURN, -1, nil)
        _ = BIO_ctrl(output, BIO_C_SET_BUF_MEM_EOF_RETURN, -1, nil)
        SSL_set_bio(ssl, input, output)  // ssl owns both BIOs now
        SSL_set_accept_state(ssl)
        self.ssl = ssl
        self.input = input
        self.output = output
    }

    deinit { SSL_free(ssl) }

    /// Feeds ciphertext; appends any plaintext to `plaintext`. Handshake records to send back
    /// are left in the output BIO: call `takeOutput` afterwards.
    func receive(_ bytes: UnsafeRawBufferPointer, into plaintext: inout [UInt8]) throws {
        if bytes.count > 0 {
            guard BIO_write(input, bytes.baseAddress, Int32(bytes.count)) == Int32(bytes.count) else {
                throw Failure.protocolError("BIO_write")
            }
        }
        if !handshakeDone {
            ERR_clear_error()
            let rc = SSL_do_handshake(ssl)
            if rc == 1 {
                handshakeDone = true
            } else {
                let error = SSL_get_error(ssl, rc)
                if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return }
                throw Failure.handshake(TLSContext.lastError())
            }
        }
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            ERR_clear_error()
            let n = buffer.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
            if n > 0 {
                plaintext.append(contentsOf: buffer[0..<Int(n)])
                continue
            }
            let error = SSL_get_error(ssl, n)
            switch error {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return
            case SSL_ERROR_ZERO_RETURN:
                peerClosed = true
                return
            default: throw Failure.protocolError(TLSContext.lastError())
            }
        }
    }

    /// Encrypts plaintext into the output BIO.
    func send(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            ERR_clear_error()
            let n = SSL_write(ssl, bytes.baseAddress! + offset, Int32(min(bytes.count - offset, 1 << 20)))
            guard n > 0 else { throw Failure.protocolError(TLSContext.lastError()) }
            offset += Int(n)
        }
    }

    /// Sends close_notify (best effort) before the socket closes.
    func shutdown() {
        if handshakeDone { _ = SSL_shutdown(ssl) }
    }

    /// Moves pending ciphertext out of the output BIO.
    func takeOutput(into out: inout [UInt8]) {
        var pending = Int(BIO_ctrl_pending(output))
        while pending > 0 {
            let start = out.count
            out.append(contentsOf: repeatElement(0, count: pending))
            let n = out.withUnsafeMutableBytes { BIO_read(output, $0.baseAddress! + start, Int32(pending)) }
            out.removeSubrange((start + max(0, Int(n)))...)
            if n <= 0 { break }
            pending = Int(BIO_ctrl_pending(output))
        }
    }
}
