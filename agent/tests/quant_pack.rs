//! Bit packing: exact round trips for every bit width, including lengths that are not a
//! multiple of the codes per word, pinned against a plain loop.

mod common;

use agent::quant::Nbits;
use agent::quant::pack::{codes_per_word, pack_codes, packed_bytes, packed_len, unpack_codes};
use tch::{Device, Kind, Tensor};

/// Reference packing written as a plain loop: code k of a word in bits `b k .. b (k + 1)`.
fn pack_by_loop(codes: &[u8], nbits: Nbits) -> Vec<u64> {
    let per = codes_per_word(nbits) as usize;
    let bits = u32::from(nbits.bits());
    codes
        .chunks(per)
        .map(|chunk| {
            chunk.iter().enumerate().map(|(k, &c)| u64::from(c) << (bits * k as u32)).sum()
        })
        .collect()
}

fn random_codes(len: i64, nbits: Nbits, seed: i64) -> Tensor {
    tch::manual_seed(seed);
    Tensor::randint(i64::from(nbits.max_code()) + 1, [len], (Kind::Uint8, Device::Cpu))
}

#[test]
fn pack_round_trips_every_width_and_ragged_length() {
    let _turn = common::torch_turn();
    let lengths = [0, 1, 3, 7, 8, 9, 10, 11, 19, 20, 21, 31, 64, 1000, 1003, 4099];
    for nbits in Nbits::ALL {
        for (i, &len) in lengths.iter().enumerate() {
            let codes = random_codes(len, nbits, i as i64);
            let packed = pack_codes(&codes, nbits).unwrap();
            assert_eq!(packed.size(), [packed_len(nbits, len)], "{nbits} bits, {len} codes");
            let back = unpack_codes(&packed, nbits, len).unwrap();
            assert_eq!(back.kind(), Kind::Uint8);
            assert!(back.equal(&codes), "{nbits}-bit round trip of {len} codes");
        }
    }
}

#[test]
fn packed_words_match_a_plain_loop() {
    let _turn = common::torch_turn();
    for nbits in Nbits::ALL {
        let codes = random_codes(257, nbits, 7);
        let plain: Vec<u8> = Vec::<u8>::try_from(&codes).unwrap();
        let packed = pack_codes(&codes, nbits).unwrap().to_kind(Kind::Int64);
        let words: Vec<i64> = Vec::<i64>::try_from(&packed).unwrap();
        let expected: Vec<i64> =
            pack_by_loop(&plain, nbits).into_iter().map(|w| w as i64).collect();
        assert_eq!(words, expected, "{nbits}-bit words");
    }
}

#[test]
fn packed_sizes_follow_the_bit_width() {
    let _turn = common::torch_turn();
    // 4096 codes: 8 bits -> 4096 B, 4 -> 2048, 2 -> 1024, 1 -> 512, 3 -> 410 words of 4 B.
    assert_eq!(packed_bytes(Nbits::B8, 4096), 4096);
    assert_eq!(packed_bytes(Nbits::B4, 4096), 2048);
    assert_eq!(packed_bytes(Nbits::B2, 4096), 1024);
    assert_eq!(packed_bytes(Nbits::B1, 4096), 512);
    assert_eq!(packed_bytes(Nbits::B3, 4096), 410 * 4);
    assert_eq!(packed_bytes(Nbits::B4, 5), 3);
    // 3-bit words never touch the top two bits, so they stay non-negative i32.
    let all_max = Tensor::full([30], 7, (Kind::Uint8, Device::Cpu));
    let words = pack_codes(&all_max, Nbits::B3).unwrap();
    assert_eq!(words.kind(), Kind::Int);
    assert_eq!(Vec::<i32>::try_from(&words).unwrap(), vec![(1 << 30) - 1; 3]);
}

#[test]
fn out_of_range_codes_and_short_words_are_refused() {
    let _turn = common::torch_turn();
    let codes = Tensor::from_slice(&[0u8, 3, 4]);
    let err = pack_codes(&codes, Nbits::B2).unwrap_err().to_string();
    assert!(err.contains("0..=3") && err.contains("0..=4"), "{err}");

    let packed = pack_codes(&Tensor::from_slice(&[1u8, 2, 3, 0]), Nbits::B2).unwrap();
    let err = unpack_codes(&packed, Nbits::B2, 5).unwrap_err().to_string();
    assert!(err.contains("need 2 packed words"), "{err}");
    let err = unpack_codes(&packed, Nbits::B3, 4).unwrap_err().to_string();
    assert!(err.contains("Int"), "{err}");
}
