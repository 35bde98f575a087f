import COpenSSL
import Foundation

/// The server's OpenSSL context: certificate chain and key from PEM files, TLS 1.2 and 1.3 only.
// @unchecked Sendable: the SSL_CTX (an OpaquePointer) is configured only in init and freed in
// deinit; in between connections only pass it to SSL_new, which OpenSSL allows from any thread.
final class TLSContext: @unchecked Sendable {
    enum Failure: Error, CustomStringConvertible {
        case setup(String)
        var description: String { if case .setup(let s) = self { return "TLS setup failed: \(s)" }; return "" }
    }

    let context: OpaquePointer

    init(certificatePath: String, keyPath: String) throws {
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw Failure.setup("SSL_CTX_new: \(Self.lastError())") }
        self.context = context
        // SSL_CTX_set_min/max_proto_version and SSL_CTX_set_mode are macros over SSL_CTX_ctrl.
        guard SSL_CTX_ctrl(context, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_2_VERSION), nil) == 1 else {
            throw Failure.setup("cannot set minimum protocol version")
        }
        // Release idle read/write buffers: many keep-alive connections sit idle.
        _ = SSL_CTX_ctrl(context, SSL_CTRL_MODE, Int(SSL_MODE_RELEASE_BUFFERS), nil)
        guard SSL_CTX_use_certificate_chain_file(context, certificatePath) == 1 else {
            throw Failure.setup("certificate \(certificatePath): \(Self.lastError())")
        }
        // TLS 1.2 suites with forward secrecy and AEAD only (TLS 1.3's are all such).
        guard SSL_CTX_set_cipher_list(context, "ECDHE+AESGCM:ECDHE+CHACHA20") == 1 else {
            throw Failure.setup("cannot set the TLS 1.2 cipher suites: \(Self.lastError())")
        }
        // No passphrase prompt on the terminal: a server must start unattended. An encrypted
        // key then fails to load, and the message says why.
        SSL_CTX_set_default_passwd_cb(context) { _, _, _, _ in 0 }
        guard SSL_CTX_use_PrivateKey_file(context, keyPath, SSL_FILETYPE_PEM) == 1 else {
            let text = (try? String(contentsOfFile: keyPath, encoding: .utf8)) ?? ""
            if text.contains("ENCRYPTED") {
                throw Failure.setup("key \(keyPath) is encrypted; passphrase-protected keys are not supported "
                                    + "(write a decrypted copy: openssl pkey -in \(keyPath) -out KEY.pem)")
            }
            throw Failure.setup("key \(keyPath): \(Self.lastError())")
        }
        guard SSL_CTX_check_private_key(context) == 1 else { throw Failure.setup("key does not match certificate") }
    }

    deinit { SSL_CTX_free(context) }

    static func lastError() -> String {
        let code = ERR_get_error()
        guard code != 0 else { return "unknown error" }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
