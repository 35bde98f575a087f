/// The multiplier of a super-block's activations, shared by every Q8_K quantizer so they
/// agree bit for bit: 127 / max|x|, or 0 for an all-zero block and for one so small
/// (max|x| under ~3.7e-37) that the quotient overflows: such a block's values are dropped
/// (quantized to zeros), a convention far below anything a model's activations reach.
public enum Q8KScale {
    @inlinable
    public static func inverse(_ amax: Float) -> Float {
        let inv = 127 / amax
        return amax > 0 && inv.isFinite ? inv : 0
    }
}
