//! The quantized checkpoint: exact round trip, atomic writing, and a clear error naming the
//! file and the tensor for every kind of damage.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use agent::quant::{
    MetaDtype, Nbits, QuantConfig, QuantizedFile, RawTensor, StoredTensor, quantize,
    read_quantized, read_safetensors, write_quantized,
};
use safetensors::tensor::{Dtype, SafeTensors};
use tch::{Device, Kind, Tensor};

/// A fresh folder under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("icrl-quant-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sample_file() -> QuantizedFile {
    tch::manual_seed(11);
    let w4 = Tensor::randn([32, 128], (Kind::Float, Device::Cpu));
    let w3 = Tensor::randn([48, 80], (Kind::Float, Device::Cpu));
    let plain = QuantConfig { meta_dtype: MetaDtype::F16, ..QuantConfig::default() };
    let packed_meta = QuantConfig {
        nbits: Nbits::B3,
        group_size: 16,
        quant_meta: true,
        ..QuantConfig::default()
    };
    let mut file = QuantizedFile { tool_version: "test-1".into(), ..QuantizedFile::default() };
    file.tensors.insert(
        "layer.w".into(),
        StoredTensor::Quantized { weight: quantize(&w4, &plain).unwrap(), dtype: Dtype::BF16 },
    );
    file.tensors.insert(
        "layer.v".into(),
        StoredTensor::Quantized { weight: quantize(&w3, &packed_meta).unwrap(), dtype: Dtype::F32 },
    );
    let bias = RawTensor::from_tensor(&Tensor::randn([32], (Kind::Float, Device::Cpu))).unwrap();
    file.tensors.insert("layer.b".into(), StoredTensor::Full(bias));
    let steps = RawTensor { dtype: Dtype::U16, shape: vec![2], data: vec![1, 2, 3, 4] };
    file.tensors.insert("step".into(), StoredTensor::Full(steps));
    file
}

/// Rewrites a checkpoint through a closure over its header and tensors (to damage it).
fn rewrite(
    path: &Path,
    edit: impl FnOnce(&mut HashMap<String, String>, &mut Vec<(String, RawTensor)>),
) {
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut header = meta.metadata().clone().unwrap();
    let mut tensors = read_safetensors(path).unwrap();
    edit(&mut header, &mut tensors);
    let views = tensors.iter().map(|(n, t)| (n.as_str(), t));
    safetensors::serialize_to_file(views, Some(header), path).unwrap();
}

fn load_error(path: &Path) -> String {
    read_quantized(path, Device::Cpu).unwrap_err().to_string()
}

#[test]
fn round_trip_is_exact() {
    let _turn = common::torch_turn();
    let dir = Scratch::new("round-trip");
    let path = dir.0.join("model.q.safetensors");
    let original = sample_file();
    write_quantized(&path, &original).unwrap();
    let leftovers: Vec<_> =
        std::fs::read_dir(&dir.0).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind: {leftovers:?}");
    // The same mode as any file the process creates (not the 0600 of a private temp file).
    let plain = dir.0.join("plain");
    std::fs::write(&plain, b"").unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions();
    assert_eq!(mode(&path), mode(&plain));
    std::fs::remove_file(&plain).unwrap();

    let loaded = read_quantized(&path, Device::Cpu).unwrap();
    assert_eq!(loaded.tool_version, "test-1");
    assert_eq!(loaded.tensors.len(), original.tensors.len());
    for (name, entry) in &original.tensors {
        match (entry, &loaded.tensors[name]) {
            (StoredTensor::Full(a), StoredTensor::Full(b)) => assert_eq!(a, b, "{name}"),
            (
                StoredTensor::Quantized { weight: a, dtype: da },
                StoredTensor::Quantized { weight: b, dtype: db },
            ) => {
                assert_eq!(da, db, "{name}");
                assert_eq!(a.config, b.config, "{name}");
                assert_eq!(a.shape, b.shape, "{name}");
                assert!(a.packed.equal(&b.packed), "{name} codes");
                assert!(a.dequantize().unwrap().equal(&b.dequantize().unwrap()), "{name} weight");
            }
            _ => panic!("{name} changed storage"),
        }
    }
}

#[test]
fn each_kind_of_damage_is_a_clear_error() {
    let _turn = common::torch_turn();
    let dir = Scratch::new("damage");
    let fresh = |name: &str| {
        let path = dir.0.join(name);
        write_quantized(&path, &sample_file()).unwrap();
        path
    };

    let truncated = fresh("truncated.safetensors");
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() - 10]).unwrap();
    let err = load_error(&truncated);
    assert!(err.contains("truncated.safetensors") && err.contains("corrupt"), "{err}");

    let garbage = dir.0.join("garbage.safetensors");
    std::fs::write(&garbage, b"not a safetensors file at all").unwrap();
    let err = load_error(&garbage);
    assert!(err.contains("garbage.safetensors") && err.contains("corrupt"), "{err}");

    let version = fresh("version.safetensors");
    rewrite(&version, |header, _| {
        header.insert("format_version".into(), "99".into());
    });
    let err = load_error(&version);
    assert!(
        err.contains("version.safetensors") && err.contains("unknown format version `99`"),
        "{err}"
    );

    let missing = fresh("missing.safetensors");
    rewrite(&missing, |_, tensors| tensors.retain(|(n, _)| n != "layer.w.zero"));
    let err = load_error(&missing);
    assert!(err.contains("`layer.w.zero`") && err.contains("missing"), "{err}");

    let missing_meta = fresh("missing-meta.safetensors");
    rewrite(&missing_meta, |_, tensors| tensors.retain(|(n, _)| n != "layer.v.scale.step"));
    let err = load_error(&missing_meta);
    assert!(err.contains("`layer.v.scale.step`") && err.contains("missing"), "{err}");

    let shape = fresh("shape.safetensors");
    rewrite(&shape, |header, _| {
        let index = header["tensors"].replace("[32,128]", "[64,128]");
        header.insert("tensors".into(), index);
    });
    let err = load_error(&shape);
    assert!(err.contains("shape.safetensors") && err.contains("`layer.w.qweight`"), "{err}");
    assert!(err.contains("mismatched"), "{err}");

    let dtype = fresh("dtype.safetensors");
    rewrite(&dtype, |_, tensors| {
        for (name, t) in tensors.iter_mut() {
            if name == "layer.b" {
                t.dtype = Dtype::I32;
            }
        }
    });
    let err = load_error(&dtype);
    assert!(err.contains("`layer.b`") && err.contains("I32"), "{err}");

    let stray = fresh("stray.safetensors");
    rewrite(&stray, |_, tensors| {
        tensors
            .push(("extra".into(), RawTensor { dtype: Dtype::U8, shape: vec![1], data: vec![0] }));
    });
    let err = load_error(&stray);
    assert!(err.contains("`extra`") && err.contains("not in the header"), "{err}");

    let plain = dir.0.join("plain.safetensors");
    let raw = RawTensor::from_tensor(&Tensor::ones([4, 4], (Kind::Float, Device::Cpu))).unwrap();
    safetensors::serialize_to_file([("w", &raw)], None, &plain).unwrap();
    let err = load_error(&plain);
    assert!(err.contains("not a quantized checkpoint"), "{err}");

    let absent = dir.0.join("absent.safetensors");
    let err = load_error(&absent);
    assert!(err.contains("reading") && err.contains("absent.safetensors"), "{err}");
}

#[test]
fn a_failed_write_leaves_no_file() {
    let _turn = common::torch_turn();
    let dir = Scratch::new("failed-write");
    // Missing folders are created, so fail on a parent that is a file.
    let parent = dir.0.join("a-file");
    std::fs::write(&parent, b"").unwrap();
    let path = parent.join("out.safetensors");
    let err = write_quantized(&path, &sample_file()).unwrap_err().to_string();
    assert!(err.contains("a-file"), "{err}");
    assert!(!path.exists());
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 1, "only the file itself is left");
}

#[test]
fn a_same_size_tampering_is_refused_naming_the_tensor() {
    let _turn = common::torch_turn();
    let dir = Scratch::new("tamper");
    let path = dir.0.join("model.q.safetensors");
    write_quantized(&path, &sample_file()).unwrap();
    // One byte of the packed codes changed, header and sizes as they were.
    rewrite(&path, |_, tensors| {
        let (_, codes) = tensors.iter_mut().find(|(n, _)| n == "layer.w.qweight").unwrap();
        codes.data[7] ^= 0x10;
    });
    let err = load_error(&path);
    assert!(err.contains("`layer.w.qweight`") && err.contains("checksum"), "{err}");
    // A file from before checksums (no `checksums` key) still loads.
    let old = dir.0.join("old.safetensors");
    write_quantized(&old, &sample_file()).unwrap();
    rewrite(&old, |header, _| {
        header.remove("checksums");
    });
    read_quantized(&old, Device::Cpu).unwrap();
    // A checksum for a tensor that is not there is refused too.
    let extra = dir.0.join("extra.safetensors");
    write_quantized(&extra, &sample_file()).unwrap();
    rewrite(&extra, |header, _| {
        let mut sums: HashMap<String, String> = serde_json::from_str(&header["checksums"]).unwrap();
        sums.insert("ghost".into(), "sha256:00".into());
        header.insert("checksums".into(), serde_json::to_string(&sums).unwrap());
    });
    let err = load_error(&extra);
    assert!(err.contains("`ghost`"), "{err}");
}

#[test]
fn scales_beyond_f16_are_refused_and_fit_in_f32() {
    let _turn = common::torch_turn();
    let w = Tensor::from_slice(&[1e6f32, -1e6].repeat(64)).reshape([2, 64]);
    let f16 = QuantConfig { meta_dtype: MetaDtype::F16, ..QuantConfig::default() };
    let err = quantize(&w, &f16).unwrap_err().to_string();
    assert!(err.contains("f16") && err.contains("--meta-dtype f32"), "{err}");
    let f32 = QuantConfig { meta_dtype: MetaDtype::F32, ..QuantConfig::default() };
    let q = quantize(&w, &f32).unwrap();
    let back = q.dequantize().unwrap();
    assert!(bool::try_from(back.isfinite().all()).unwrap());
}

/// The same content gives the same bytes: the header's keys are sorted (the safetensors
/// crate's writer took them from a HashMap, in an order that changed from call to call).
#[test]
fn the_same_file_is_written_to_the_same_bytes() {
    let _turn = common::torch_turn();
    let dir = Scratch::new("same-bytes");
    let mut file = sample_file();
    for k in 0..8 {
        file.metadata.insert(format!("key{k}"), format!("value {k}"));
    }
    let (a, b) = (dir.0.join("a.safetensors"), dir.0.join("b.safetensors"));
    write_quantized(&a, &file).unwrap();
    write_quantized(&b, &file).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    // And it reads back.
    let back = agent::quant::read_quantized(&a, tch::Device::Cpu).unwrap();
    assert_eq!(back.metadata.get("key7").map(String::as_str), Some("value 7"));
}
