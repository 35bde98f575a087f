/// The memory of a paged KV cache: for each layer, `blockCount` blocks of
/// `blockSize` token slots, each slot holding one key (and one value) vector of
/// `kvDim` floats. Which block belongs to which sequence is the engine's business;
/// kernels only follow the block tables they are given.
public final class KVCacheStorage: @unchecked Sendable {
    public let layers: Int
    public let kvDim: Int
    public let blockSize: Int
    public let blockCount: Int
    let keys: UnsafeMutablePointer<Float>    // [layers, blockCount, blockSize, kvDim]
    let values: UnsafeMutablePointer<Float>  // [layers, blockCount, blockSize, kvDim]

    public init(layers: Int, kvDim: Int, blockSize: Int, blockCount: Int) {
        self.layers = layers
        self.kvDim = kvDim
        self.blockSize = blockSize
        self.blockCount = blockCount
        let n = layers * blockCount * blockSize * kvDim
        keys = .allocate(capacity: n)
        values = .allocate(capacity: n)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    public var bytes: Int { 2 * layers * blockCount * blockSize * kvDim * MemoryLayout<Float>.size }

    /// Bytes one token takes in the cache.
    public static func bytesPerToken(layers: Int, kvDim: Int) -> Int { 2 * layers * kvDim * MemoryLayout<Float>.size }

    @inline(__always) func slotOffset(layer: Int, block: Int, slot: Int) -> Int {
        ((layer * blockCount + block) * blockSize + slot) * kvDim
    }

    @inline(__always) public func key(layer: Int, block: Int, slot: Int) -> UnsafeMutablePointer<Float> {
        keys + slotOffset(layer: layer, block: block, slot: slot)
    }

    @inline(__always) public func value(layer: Int, block: Int, slot: Int) -> UnsafeMutablePointer<Float> {
        values + slotOffset(layer: layer, block: block, slot: slot)
    }

    /// Copies a block's contents in every layer (copy-on-write of a shared block).
    public func copyBlock(from src: Int, to dst: Int) {
        for l in 0..<layers {
            let n = blockSize * kvDim
            key(layer: l, block: dst, slot: 0).update(from: key(layer: l, block: src, slot: 0), count: n)
            value(layer: l, block: dst, slot: 0).update(from: value(layer: l, block: src, slot: 0), count: n)
        }
    }
}
