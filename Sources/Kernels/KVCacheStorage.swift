#if arch(x86_64)
import KernelsAVX2
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How keys and values are stored in the cache. f16 halves the memory that attention
/// streams every step (at 32 sequences attention is bandwidth-bound) and doubles the
/// tokens a given cache holds; f32 keeps the exact projections.
public enum KVCacheType: String, Sendable, CaseIterable {
    case f32, f16

    public var elementBytes: Int { self == .f32 ? 4 : 2 }
}

/// The memory of a paged KV cache: for each layer, `blockCount` blocks of
/// `blockSize` token slots, each slot holding one key (and one value) vector of
/// `kvDim` elements of `type`. Within a block, values are [blockSize][kvDim] and keys
/// are transposed, [kvDim][blockSize], so attention scores consecutive slots with
/// vector FMAs and no horizontal sums. Which block belongs to which sequence is the
/// engine's business; kernels only follow the block tables they are given.
///
/// Sliding-window layers may get a pool of their own (`localLayers`, `localBlockCount`
/// blocks): their sequences keep a small ring of blocks there instead of one block per
/// `blockSize` positions, so a long context costs memory only in the global layers.
/// Block indices of a local layer are indices into the local pool.
// @unchecked Sendable: the shape is immutable; the key/value memory is written and read only by
// the forward passes of its one owner (the engine thread, or a Generator/bench loop), whose pool
// workers write disjoint token slots.
public final class KVCacheStorage: @unchecked Sendable {
    public let layers: Int
    public let kvDim: Int
    public let blockSize: Int
    /// Blocks of each global layer (every layer when there is no local pool).
    public let blockCount: Int
    /// Blocks of each layer that `localLayers` marks; 0 when there is no local pool.
    public let localBlockCount: Int
    /// [layers] true for a layer stored in the local pool; empty when there is none.
    public let localLayers: [Bool]
    public let type: KVCacheType
    let keys: UnsafeMutableRawPointer    // per layer, one after the other: [blocks of the layer, kvDim, blockSize]
    let values: UnsafeMutableRawPointer  // per layer, one after the other: [blocks of the layer, blockSize, kvDim]
    private let layerBase: [Int]         // [layers] byte offset of each layer's first block
    public let bytes: Int

    public init(layers: Int, kvDim: Int, blockSize: Int, blockCount: Int, type: KVCacheType = .f16,
                localLayers: [Bool] = [], localBlockCount: Int = 0) {
        precondition(localLayers.isEmpty || localLayers.count == layers, "one local flag per layer")
        self.layers = layers
        self.kvDim = kvDim
        self.blockSize = blockSize
        self.blockCount = blockCount
        self.localLayers = localLayers.contains(true) ? localLayers : []
        self.localBlockCount = self.localLayers.isEmpty ? 0 : localBlockCount
        self.type = type
        let blockBytes = blockSize * kvDim * type.elementBytes
        var base: [Int] = [], total = 0
        for l in 0..<layers {
            base.append(total)
            total += (self.localLayers.isEmpty || !self.localLayers[l] ? blockCount : self.localBlockCount) * blockBytes
        }
        layerBase = base
        bytes = 2 * total
        keys = .allocate(byteCount: max(total, 1), alignment: 64)
        values = .allocate(byteCount: max(total, 1), alignment: 64)
    }

    /// Writes every page once (zeros), as a long-lived server wants: a block's first use then
    /// faults no pages in mid-step (a fresh server's steps spent 2-3 % of their time doing so),
    /// and the memory is taken at start, not mid-request. llama.cpp clears its KV buffer likewise.
    public func makeResident() {
        let half = bytes / 2
        memset(keys, 0, half)  // no type bound: the kernels read these as f16 or f32
        memset(values, 0, half)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// Bytes one block takes across the global layers (the local ones).
    public var globalBlockBytes: Int { 2 * (layers - localLayers.filter { $0 }.count) * blockSize * kvDim * type.elementBytes }
    public var localBlockBytes: Int { 2 * localLayers.filter { $0 }.count * blockSize * kvDim * type.elementBytes }

    /// True when `layer` lives in the local pool (and is addressed through a sequence's ring).
    @inline(__always) public func isLocal(_ layer: Int) -> Bool { !localLayers.isEmpty && localLayers[layer] }

    /// Blocks a sequence's ring in the local pool needs so that a run of up to `maxChunk`
    /// tokens never overwrites a block its own window still reads: the positions from the
    /// first token's window start to the last token span window - 1 + maxChunk slots, and
    /// a span of L slots touches at most ⌈L / blockSize⌉ + 1 blocks.
    public static func ringBlocks(window: Int, maxChunk: Int, blockSize: Int) -> Int {
        (window - 1 + max(maxChunk, 1) + blockSize - 1) / blockSize + 1
    }

    /// Bytes a storage of these sizes takes (what `init` allocates, keys and values): the server
    /// checks them against the memory left before the engine writes them.
    public static func bytes(layers: Int, kvDim: Int, blockSize: Int, blockCount: Int, type: KVCacheType = .f16,
                             localLayers: [Bool] = [], localBlockCount: Int = 0) -> Int {
        let local = localLayers.contains(true) ? localLayers.filter { $0 }.count : 0
        return 2 * ((layers - local) * blockCount + local * localBlockCount) * blockSize * kvDim * type.elementBytes
    }

    /// Bytes one token takes in the cache.
    public static func bytesPerToken(layers: Int, kvDim: Int, type: KVCacheType = .f16) -> Int {
        2 * layers * kvDim * type.elementBytes
    }

    @inline(__always) func byteOffset(layer: Int, block: Int, slot: Int) -> Int {
        layerBase[layer] + (block * blockSize + slot) * kvDim * type.elementBytes
    }

    /// Start of one layer's keys (values): [blocks, blockSize, kvDim] elements of `type`.
    @inline(__always) public func keys(layer: Int) -> UnsafeRawPointer { UnsafeRawPointer(keys + layerBase[layer]) }
    @inline(__always) public func values(layer: Int) -> UnsafeRawPointer { UnsafeRawPointer(values + layerBase[layer]) }

    /// Writes the key and value vectors (kvDim floats each) of one token slot.
    public func store(layer: Int, block: Int, slot: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        Self.encode(value, into: values + byteOffset(layer: layer, block: block, slot: slot), kvDim, type)
        let eb = type.elementBytes, bs = blockSize
        let kt = keys + byteOffset(layer: layer, block: block, slot: 0) + slot * eb  // element j at j·blockSize
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: kvDim) { tmp in
            guard let t = tmp.baseAddress else { return }
            Self.encode(key, into: UnsafeMutableRawPointer(t), kvDim, type)
            let raw = UnsafeRawPointer(t)
            if eb == 2 {
                for j in 0..<kvDim { kt.storeBytes(of: raw.load(fromByteOffset: 2 * j, as: UInt16.self), toByteOffset: j * bs * 2, as: UInt16.self) }
            } else {
                for j in 0..<kvDim { kt.storeBytes(of: raw.load(fromByteOffset: 4 * j, as: UInt32.self), toByteOffset: j * bs * 4, as: UInt32.self) }
            }
        }
    }

    /// Reads one slot's key (value) back as floats.
    public func readKey(layer: Int, block: Int, slot: Int, into out: UnsafeMutablePointer<Float>) {
        Self.decodeKey(keys(layer: layer), block: block, slot: slot, blockSize: blockSize, kvDim: kvDim, from: 0, count: kvDim,
                       type: type, into: out)
    }

    /// Elements from..<from+count of the key in `slot` of `block`, from one layer's keys, as floats.
    @inline(__always)
    static func decodeKey(_ layerKeys: UnsafeRawPointer, block: Int, slot: Int, blockSize bs: Int, kvDim: Int, from: Int, count: Int,
                          type: KVCacheType, into out: UnsafeMutablePointer<Float>) {
        let eb = type.elementBytes
        let base = layerKeys + ((block * kvDim + from) * bs + slot) * eb
        if eb == 2 {
            for j in 0..<count { out[j] = halfToFloat(base.load(fromByteOffset: j * bs * 2, as: UInt16.self)) }
        } else {
            for j in 0..<count { out[j] = base.load(fromByteOffset: j * bs * 4, as: Float.self) }
        }
    }

    public func readValue(layer: Int, block: Int, slot: Int, into out: UnsafeMutablePointer<Float>) {
        Self.decode(values + byteOffset(layer: layer, block: block, slot: slot), into: out, kvDim, type)
    }

    /// Copies a block's contents in every global layer (copy-on-write of a shared block).
    public func copyBlock(from src: Int, to dst: Int) {
        let n = blockSize * kvDim * type.elementBytes
        for l in 0..<layers where !isLocal(l) {
            let s = byteOffset(layer: l, block: src, slot: 0), d = byteOffset(layer: l, block: dst, slot: 0)
            (keys + d).copyMemory(from: keys + s, byteCount: n)
            (values + d).copyMemory(from: values + s, byteCount: n)
        }
    }

    static func encode(_ x: UnsafePointer<Float>, into p: UnsafeMutableRawPointer, _ n: Int, _ type: KVCacheType) {
        switch type {
        case .f32: p.copyMemory(from: x, byteCount: 4 * n)
        case .f16:
            let h = p.assumingMemoryBound(to: UInt16.self)
            #if arch(x86_64)
            if CPUFeatures.hasAVX2 { AVX2Attention.floatsToHalfs(x, h, n); return }
            #endif
            for i in 0..<n { h[i] = floatToHalf(min(max(x[i], -65504), 65504)) }
        }
    }

    static func decode(_ p: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>, _ n: Int, _ type: KVCacheType) {
        switch type {
        case .f32: UnsafeMutableRawPointer(out).copyMemory(from: p, byteCount: 4 * n)
        case .f16:
            for i in 0..<n { out[i] = halfToFloat(p.load(fromByteOffset: 2 * i, as: UInt16.self)) }
        }
    }
}
