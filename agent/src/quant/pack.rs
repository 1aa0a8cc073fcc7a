//! Bit packing of quantized codes, on the codes' own device (CPU or CUDA).
//!
//! Codes are taken in flat (row-major) order and packed little-end first:
//! - 8 bits: one code per `u8` (no packing);
//! - 4, 2, 1 bits: `8 / b` codes per `u8`, code `k` of a byte in bits `b k .. b (k + 1)`;
//! - 3 bits: ten codes per 32-bit word (stored as a non-negative `i32`, torch has no `u32`),
//!   code `k` in bits `3 k .. 3 k + 3`; bits 30 and 31 stay zero.
//!
//! A length that is not a multiple of the codes per word is padded with zero codes; the
//! caller keeps the true length (the checkpoint stores the weight's shape) and
//! [`unpack_codes`] cuts the padding off again.

use tch::{Kind, Tensor};

use super::QuantError;
use super::config::Nbits;

/// Codes held by one packed word: a `u8` for 8/4/2/1 bits, an `i32` for 3 bits.
pub fn codes_per_word(nbits: Nbits) -> i64 {
    match nbits {
        Nbits::B8 => 1,
        Nbits::B4 => 2,
        Nbits::B2 => 4,
        Nbits::B1 => 8,
        Nbits::B3 => 10,
    }
}

/// The tensor kind of the packed words.
pub fn packed_kind(nbits: Nbits) -> Kind {
    match nbits {
        Nbits::B3 => Kind::Int,
        _ => Kind::Uint8,
    }
}

/// Number of packed words for `len` codes.
pub fn packed_len(nbits: Nbits, len: i64) -> i64 {
    let per = codes_per_word(nbits);
    (len + per - 1) / per
}

/// Bytes taken by `len` packed codes.
pub fn packed_bytes(nbits: Nbits, len: i64) -> i64 {
    let word_bytes = if nbits == Nbits::B3 { 4 } else { 1 };
    packed_len(nbits, len) * word_bytes
}

/// Packs `codes` (any shape, integer values in `0 .. 2^nbits`) into a 1-D tensor of words
/// on the same device. Fails if a code is out of range for the bit width.
pub fn pack_codes(codes: &Tensor, nbits: Nbits) -> Result<Tensor, QuantError> {
    let kind = packed_kind(nbits);
    let flat = codes.f_reshape([-1])?.f_to_kind(kind)?;
    let len = flat.size()[0];
    if len > 0 {
        let lo = codes.f_min()?.f_double_value(&[])?;
        let hi = codes.f_max()?.f_double_value(&[])?;
        if lo < 0.0 || hi > f64::from(nbits.max_code()) || lo.fract() != 0.0 || hi.fract() != 0.0 {
            return Err(QuantError::config(
                "codes",
                format!("{nbits}-bit codes must lie in 0..={}, got {lo}..={hi}", nbits.max_code()),
            ));
        }
    }
    let per = codes_per_word(nbits);
    if per == 1 {
        return Ok(flat);
    }
    let words = packed_len(nbits, len);
    let fields = flat.f_constant_pad_nd([0, words * per - len])?.f_reshape([words, per])?;
    let bits = i64::from(nbits.bits());
    // Fields never overlap, so OR-ing them in the word's own type is exact.
    let mut packed = fields.f_select(1, 0)?.f_detach_copy()?;
    for k in 1..per {
        let field = fields.f_select(1, k)?.f_bitwise_left_shift_tensor_scalar(bits * k)?;
        let _ = packed.f_bitwise_or_tensor_(&field)?;
    }
    Ok(packed)
}

/// Unpacks `len` codes from a 1-D tensor of packed words, as a 1-D `u8` tensor on the same
/// device. Fails if the words are of the wrong kind or too few for `len` codes.
pub fn unpack_codes(packed: &Tensor, nbits: Nbits, len: i64) -> Result<Tensor, QuantError> {
    let want_kind = packed_kind(nbits);
    if packed.kind() != want_kind {
        return Err(QuantError::config(
            "packed",
            format!("{nbits}-bit codes are packed as {want_kind:?}, got {:?}", packed.kind()),
        ));
    }
    let words = packed.numel() as i64;
    if words < packed_len(nbits, len) {
        return Err(QuantError::config(
            "packed",
            format!(
                "{len} {nbits}-bit codes need {} packed words, got {words}",
                packed_len(nbits, len)
            ),
        ));
    }
    let per = codes_per_word(nbits);
    let flat = packed.f_reshape([-1])?;
    if per == 1 {
        return Ok(flat.f_narrow(0, 0, len)?);
    }
    let bits = i64::from(nbits.bits());
    let mask = i64::from(nbits.max_code());
    let mut fields = Vec::with_capacity(per as usize);
    for k in 0..per {
        let field = flat.f_bitwise_right_shift_tensor_scalar(bits * k)?.f_bitwise_and(mask)?;
        fields.push(field);
    }
    let codes = Tensor::f_stack(&fields, 1)?.f_reshape([-1])?.f_narrow(0, 0, len)?;
    Ok(codes.f_to_kind(Kind::Uint8)?)
}
