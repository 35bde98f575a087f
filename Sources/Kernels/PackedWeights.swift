#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
#if arch(x86_64)
import KernelsAVX2
import KernelsAVX512
#endif

/// Owns the copies of a model's weight matrices repacked at load time for the kernel
/// that reads them (today: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and IQ4_XS for the AVX-512 VNNI kernel, `VNNIKQuantPacked`,
/// and the AVX2 one, `AVX2KQuantPacked`, which reads the same layout; Q4_0, Q4_1, Q5_0, IQ4_NL
/// and Q8_0 in `AVX2Packed32`'s layout, which AVX2's kernel and AVX-512 VNNI's (`VNNIPacked32`) read,
/// but for the output projection (a Q8_0 one on AVX-512 VNNI: `VNNIPacked32Logits`); F16, the output projection too, in
/// `AVX2F16Packed`'s layout, which both backends read), and of the other large
/// matrices moved as they are to huge pages (`relocate`), and frees them with the model. The
/// copies are as small as the file's tensors (up to 4% more), and the file's pages of a copied
/// matrix are dropped (`GGUFFile.adviseDontNeed`). A draft model's Q4_0 copies
/// (`requantizedQ4_0`) are owned here too.
/// Measured on Qwen2.5-Coder-1.5B Q4_K_M (2 threads): 16 sequences +20% tokens/s (the per-call
/// copy and repack were a third of a step), prompts +5-10%, one sequence about -8% (the
/// row-streaming matrix-vector kernel reads the file layout a little faster).
// @unchecked Sendable: `buffers` and `bytes` change only in `own` (from `pack`, `requantizedQ4_0`), which run while a model
// loads (ModelWeights.init, one thread) before the weights are shared; deinit frees the copies.
// (Not a Mutex: raw pointers made outside it cannot be sent into it.)
public final class PackedWeights: @unchecked Sendable {
    public let backend: MatMul.Backend
    public let enabled: Bool
    private var buffers: [UnsafeMutableRawPointer] = []
    /// Bytes held by the packed copies.
    public private(set) var bytes = 0

    /// JETON_REPACK=0 keeps the file's layout (the per-call repacking kernels), for comparisons.
    public init(backend: MatMul.Backend = MatMul.defaultBackend,
                enabled: Bool = getenv("JETON_REPACK").map { String(cString: $0) != "0" } ?? true) {
        self.backend = backend
        self.enabled = enabled
    }

    deinit { for b in buffers { b.deallocate() } }

    /// `w` with a packed copy when the backend's kernel has a layout for its type; else, for a
    /// matrix of 2 MiB or more, `w` with its bytes moved to huge pages (same layout); else `w` itself.
    /// `logits`: the output projection, which multiplies float activations
    /// (`MatMul.multiplyUnquantizedActivations`): its packed layouts are the K-quant ones, F16's and,
    /// on AVX-512 VNNI, Q8_0's.
    public func pack(_ w: WeightMatrix, logits: Bool = false) -> WeightMatrix {
        guard enabled, !w.onlyPacked else { return w }
        #if arch(x86_64)
        let vnni = backend == .avx512 && CPUFeatures.hasAVX512VNNI
        let type = w.type.rawValue
        if (vnni || backend == .avx2 && CPUFeatures.hasAVX2) && w.type == .f16 && w.cols % 16 == 0 && w.rows > 0 {
            // F16 (the output projection too: its kernel is the same) for `AVX2F16Packed`'s layout,
            // which both backends read.
            return packed(w, bytes: AVX2F16Packed.packedBytes(rows: w.rows, cols: w.cols)) { range, target in
                AVX2F16Packed.pack(w: w.data, rows: w.rows, cols: w.cols, tiles: range, out: target)
            }
        }
        // A Q8_0 output projection too on AVX-512 VNNI, whose logits kernel reads that layout
        // (`VNNIPacked32Logits`; AVX2's reads the file's).
        if (!logits || vnni && w.type == .q8_0)
            && (backend == .avx2 && CPUFeatures.hasAVX2 && AVX2Packed32.supports(typeID: type)
                || vnni && VNNIPacked32.supports(typeID: type))
            && w.cols % 32 == 0 && w.rows > 0 {
            return pack32(w)
        }
        guard vnni || backend == .avx2 && CPUFeatures.hasAVX2 && AVX2KQuantPacked.supports(typeID: type), w.cols % 256 == 0, w.rows > 0,
              VNNIKQuantPacked.supports(typeID: type) else { return relocate(w) }
        let nsb = w.cols / 256
        let size = VNNIKQuantPacked.packedBytes(typeID: w.type.rawValue, rows: w.rows, superBlocks: nsb)
        return packed(w, bytes: size) { range, target in
            if vnni && !KQuantMatMul.onlyPackedKernels(w.type) {
                VNNIKQuantPacked.pack(typeID: w.type.rawValue, w: w.data, rowBytes: w.rowBytes, rows: w.rows, superBlocks: nsb,
                                      tiles: range, out: target)
            } else {
                KQuantPacker.pack(typeID: w.type.rawValue, w: w.data, rowBytes: w.rowBytes, rows: w.rows, superBlocks: nsb,
                                  tiles: range, out: target)
            }
        }
        #else
        return relocate(w)
        #endif
    }

    /// Q4_0, Q4_1, Q5_0, Q8_0 and IQ4_NL for the AVX2 and AVX-512 VNNI kernels, and a Q8_0 output projection
    /// for AVX-512 VNNI's logits kernel (`AVX2Packed32`'s layout, 8 rows side by side; the file's bytes).
    func pack32(_ w: WeightMatrix) -> WeightMatrix {
        #if arch(x86_64)
        let nb = w.cols / 32
        return packed(w, bytes: AVX2Packed32.packedBytes(typeID: w.type.rawValue, rows: w.rows, blocks: nb)) { range, target in
            AVX2Packed32.pack(typeID: w.type.rawValue, w: w.data, rowBytes: w.rowBytes, rows: w.rows, blocks: nb, tiles: range, out: target)
        }
        #else
        return w
        #endif
    }

    /// `w` with a packed copy of `size` bytes that `fill(tiles, out)` writes, chunks of its 16-row
    /// tiles on all cores (loading a model is mostly this): each chunk writes its own tiles, no two
    /// iterations touch the same bytes. 2 MiB aligned and asked for as huge pages: the kernels
    /// stream the copy once per step, and a TLB miss costs two page walks in a virtual machine.
    private func packed(_ w: WeightMatrix, bytes size: Int,
                        _ fill: @Sendable (Range<Int>, UnsafeMutableRawPointer) -> Void) -> WeightMatrix {
        let tiles = (w.rows + 15) / 16
        let out = own(bytes: size)
        let chunks = min(tiles, 4 * max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        nonisolated(unsafe) let target = out
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            fill((c * tiles / chunks)..<((c + 1) * tiles / chunks), target)
        }
        return WeightMatrix(type: w.type, data: w.data, rows: w.rows, cols: w.cols, packed: UnsafeRawPointer(out))
    }

    /// A buffer of `size` bytes freed with this object, on its own 4 KiB pages in a chunk shared with
    /// the copies packed before it: chunks of `chunkBytes` (or one copy's size past that), 2 MiB
    /// aligned and asked for as huge pages (Linux). One buffer a copy left every copy under 2 MiB
    /// (Qwen 1.5B's q, k, v and o projections) and each copy's tail on 4 KiB pages: a quarter of
    /// that model's streamed bytes. Chunks' unused ends are never touched, so they take no memory.
    func own(bytes size: Int) -> UnsafeMutableRawPointer {
        let need = (size + 4095) & ~4095
        if chunkUsed + need > chunkSize {
            chunkSize = max(Self.chunkBytes, HugePages.whole(need))
            let base = HugePages.allocate(bytes: chunkSize)
            buffers.append(base)
            chunk = base
            chunkUsed = 0
        }
        let out = chunk! + chunkUsed
        chunkUsed += need
        bytes += size
        return out
    }
    static let chunkBytes = 64 << 20
    private var chunk: UnsafeMutableRawPointer?
    private var chunkUsed = 0, chunkSize = 0

    /// `w`'s bytes copied to huge pages when it spans at least one (Linux): the file's 4 KiB pages
    /// cost a TLB miss, two page walks in a virtual machine, every 4 KiB of a stream read once
    /// per token. Measured on Qwen2.5-Coder-0.5B Q4_K_M, whose Q5_0 and Q8_0 matrices (85% of its
    /// bytes) had no packed layout then: generation at 2 threads +3-4% (SmolLM2 Q4_1: within noise).
    func relocate(_ w: WeightMatrix) -> WeightMatrix {
        #if os(Linux)
        let size = w.rows * w.rowBytes
        guard size >= HugePages.size else { return w }
        let out = own(bytes: size)
        let chunks = 4 * max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        nonisolated(unsafe) let target = out
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = c * size / chunks, hi = (c + 1) * size / chunks
            (target + lo).copyMemory(from: w.data + lo, byteCount: hi - lo)
        }
        return WeightMatrix(type: w.type, data: UnsafeRawPointer(out), rows: w.rows, cols: w.cols, packed: nil)
        #else
        return w
        #endif
    }
}
