//! The quantized checkpoint: a safetensors file holding packed weights, their scales and
//! zeros, and tensors kept in full precision, with the quantization settings in the header.
//! The layout is specified in `FORMAT.md` next to this file. Files are written atomically
//! (a temporary file in the same folder, then a rename) and validated on load.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use histories::fsio::write_atomic_with;
use safetensors::tensor::{Dtype, SafeTensors, View};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::config::QuantConfig;
use super::hqq::{META_GROUP, MetaTensor, QuantizedTensor};
use super::{FORMAT_VERSION, QuantError, pack};

/// The header's `format` value.
pub const FORMAT_NAME: &str = "icrl-quant";

/// A tensor as safetensors holds it: any dtype, raw little-endian bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct RawTensor {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl RawTensor {
    /// Copies a tensor (any device) to host bytes.
    pub fn from_tensor(tensor: &Tensor) -> Result<RawTensor, QuantError> {
        let dtype = dtype_of(tensor.kind()).ok_or_else(|| {
            QuantError::config("dtype", format!("{:?} has no safetensors dtype", tensor.kind()))
        })?;
        let host = tensor.f_to_device(Device::Cpu)?.f_contiguous()?;
        let numel = host.numel();
        let mut data = vec![0u8; numel * tensor.kind().elt_size_in_bytes()];
        host.f_copy_data_u8(&mut data, numel)?;
        let shape = host.size().iter().map(|&d| d as usize).collect();
        Ok(RawTensor { dtype, shape, data })
    }

    /// The tensor on the CPU, for dtypes torch has.
    pub fn to_tensor(&self) -> Result<Tensor, QuantError> {
        let kind = kind_of(self.dtype).ok_or_else(|| {
            QuantError::config("dtype", format!("torch has no kind for {:?}", self.dtype))
        })?;
        let shape: Vec<i64> = self.shape.iter().map(|&d| d as i64).collect();
        Ok(Tensor::f_from_data_size(&self.data, &shape, kind)?)
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

impl View for &RawTensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// One named entry of a quantized checkpoint.
#[derive(Debug)]
pub enum StoredTensor {
    /// A quantized weight and the dtype it had before quantization.
    Quantized { weight: QuantizedTensor, dtype: Dtype },
    /// A tensor kept as it was.
    Full(RawTensor),
}

/// A quantized checkpoint in memory.
#[derive(Debug, Default)]
pub struct QuantizedFile {
    /// Entries by name.
    pub tensors: BTreeMap<String, StoredTensor>,
    /// The version of the tool that wrote it (`agent` crate version).
    pub tool_version: String,
    /// Further header entries (e.g. `model_config`); the format's own keys are refused.
    pub metadata: BTreeMap<String, String>,
}

impl QuantizedFile {
    /// An empty file stamped with this crate's version.
    pub fn new() -> Self {
        QuantizedFile { tool_version: super::TOOL_VERSION.to_string(), ..Default::default() }
    }
}

/// Header keys of the format itself, not available to [`QuantizedFile::metadata`].
pub const RESERVED_KEYS: [&str; 5] =
    ["format", "format_version", "tool_version", "tensors", "checksums"];

/// The checksum of a stored tensor's bytes: `sha256:` and the hex SHA-256.
pub fn checksum(data: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{:x}", sha2::Sha256::digest(data))
}

/// The `format_version` of `path`'s header if it is a quantized checkpoint (its `format` is
/// [`FORMAT_NAME`]), `None` for any other safetensors file.
pub fn quantized_format_of(path: &Path) -> Result<Option<String>, QuantError> {
    let bytes = read_bytes(path)?;
    let (_, metadata) = SafeTensors::read_metadata(&bytes)
        .map_err(|source| QuantError::Safetensors { file: path.to_path_buf(), source })?;
    let header = metadata.metadata().clone().unwrap_or_default();
    Ok((header.get("format").map(String::as_str) == Some(FORMAT_NAME))
        .then(|| header.get("format_version").cloned().unwrap_or_default()))
}

/// The header's per-entry description (`tensors` key, JSON).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "storage", rename_all = "lowercase", deny_unknown_fields)]
enum EntryHeader {
    Quantized { shape: Vec<i64>, dtype: Dtype, config: QuantConfig },
    Full { shape: Vec<usize>, dtype: Dtype },
}

/// Reads every tensor of any safetensors file, sorted by name.
pub fn read_safetensors(path: &Path) -> Result<Vec<(String, RawTensor)>, QuantError> {
    let bytes = read_bytes(path)?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|source| QuantError::Safetensors { file: path.to_path_buf(), source })?;
    let mut out: Vec<(String, RawTensor)> = file
        .iter()
        .map(|(name, view)| {
            let raw = RawTensor {
                dtype: view.dtype(),
                shape: view.shape().to_vec(),
                data: view.data().to_vec(),
            };
            (name.to_string(), raw)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Writes a quantized checkpoint atomically: a temporary file beside `path`, then a rename.
pub fn write_quantized(path: &Path, file: &QuantizedFile) -> Result<(), QuantError> {
    let mut index = BTreeMap::new();
    let mut tensors: Vec<(String, RawTensor)> = Vec::new();
    for (name, entry) in &file.tensors {
        match entry {
            StoredTensor::Full(raw) => {
                index.insert(
                    name.clone(),
                    EntryHeader::Full { shape: raw.shape.clone(), dtype: raw.dtype },
                );
                tensors.push((name.clone(), raw.clone()));
            }
            StoredTensor::Quantized { weight, dtype } => {
                let header = EntryHeader::Quantized {
                    shape: weight.shape.clone(),
                    dtype: *dtype,
                    config: weight.config.clone(),
                };
                index.insert(name.clone(), header);
                tensors.push((format!("{name}.qweight"), RawTensor::from_tensor(&weight.packed)?));
                push_meta(&mut tensors, &format!("{name}.scale"), &weight.scale)?;
                push_meta(&mut tensors, &format!("{name}.zero"), &weight.zero)?;
            }
        }
    }
    let index = serde_json::to_string(&index).map_err(|e| {
        QuantError::config("header", format!("cannot encode the tensor index: {e}"))
    })?;
    let checksums: BTreeMap<&str, String> =
        tensors.iter().map(|(name, raw)| (name.as_str(), checksum(&raw.data))).collect();
    let checksums = serde_json::to_string(&checksums)
        .map_err(|e| QuantError::config("header", format!("cannot encode the checksums: {e}")))?;
    let mut header = BTreeMap::from([
        ("format".to_string(), FORMAT_NAME.to_string()),
        ("format_version".to_string(), FORMAT_VERSION.to_string()),
        ("tool_version".to_string(), file.tool_version.clone()),
        ("tensors".to_string(), index),
        ("checksums".to_string(), checksums),
    ]);
    for (key, value) in &file.metadata {
        if RESERVED_KEYS.contains(&key.as_str()) {
            return Err(QuantError::config(
                "metadata",
                format!("`{key}` is a key of the format itself"),
            ));
        }
        header.insert(key.clone(), value.clone());
    }
    write_safetensors(path, &tensors, &header)
}

/// Writes a safetensors file atomically whose bytes depend on its content alone: tensors in
/// name order, header and metadata keys sorted (the safetensors crate's writer takes the
/// metadata as a `HashMap` and writes it in an order that changes from run to run, so the
/// same model gave other bytes each time). The layout is the standard one: the header's
/// length (u64, little-endian), the JSON header padded with spaces to a multiple of 8 bytes,
/// then every tensor's bytes in offset order.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(String, RawTensor)],
    metadata: &BTreeMap<String, String>,
) -> Result<(), QuantError> {
    use std::io::Write as _;
    let mut sorted: Vec<&(String, RawTensor)> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), serde_json::to_value(metadata).unwrap_or_default());
    }
    let mut offset = 0usize;
    for (name, raw) in &sorted {
        let expected = (raw.numel() * raw.dtype.bitsize()).div_ceil(8);
        if raw.data.len() != expected {
            return Err(QuantError::config(
                "tensor",
                format!(
                    "`{name}`: {} bytes for a {:?} of shape {:?}",
                    raw.data.len(),
                    raw.dtype,
                    raw.shape
                ),
            ));
        }
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": raw.dtype, "shape": raw.shape,
                "data_offsets": [offset, offset + raw.data.len()]}),
        );
        offset += raw.data.len();
    }
    let mut text = serde_json::to_vec(&header)
        .map_err(|e| QuantError::config("header", format!("cannot encode the header: {e}")))?;
    text.resize(text.len().div_ceil(8) * 8, b' ');
    let io = |file: &Path, action: &'static str| {
        let file = file.to_path_buf();
        move |source| QuantError::Io { action, file, source }
    };
    write_atomic_with(
        path,
        |temp| {
            let mut out =
                std::io::BufWriter::new(std::fs::File::create(temp).map_err(io(temp, "creating"))?);
            out.write_all(&(text.len() as u64).to_le_bytes()).map_err(io(temp, "writing"))?;
            out.write_all(&text).map_err(io(temp, "writing"))?;
            for (_, raw) in &sorted {
                out.write_all(&raw.data).map_err(io(temp, "writing"))?;
            }
            out.flush().map_err(io(temp, "writing"))
        },
        |source| QuantError::Io {
            action: "renaming the finished temporary file onto",
            file: path.to_path_buf(),
            source,
        },
    )
}

fn push_meta(
    out: &mut Vec<(String, RawTensor)>,
    name: &str,
    meta: &MetaTensor,
) -> Result<(), QuantError> {
    match meta {
        MetaTensor::Plain(values) => out.push((name.to_string(), RawTensor::from_tensor(values)?)),
        MetaTensor::Quantized { codes, step, zero } => {
            out.push((format!("{name}.codes"), RawTensor::from_tensor(codes)?));
            out.push((format!("{name}.step"), RawTensor::from_tensor(step)?));
            out.push((format!("{name}.zero"), RawTensor::from_tensor(zero)?));
        }
    }
    Ok(())
}

/// Reads and validates a quantized checkpoint, placing its tensors on `device`.
pub fn read_quantized(path: &Path, device: Device) -> Result<QuantizedFile, QuantError> {
    let bytes = read_bytes(path)?;
    let bad = |tensor: &str, reason: String| QuantError::Checkpoint {
        file: path.to_path_buf(),
        tensor: tensor.to_string(),
        reason,
    };
    let (_, metadata) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad("(header)", format!("corrupt or truncated safetensors file: {e}")))?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| bad("(header)", format!("corrupt or truncated safetensors file: {e}")))?;
    let header = metadata.metadata().clone().unwrap_or_default();
    let Header { tool_version, index, checksums } = read_header(&header, &bad)?;
    let checksums = checksums.as_ref();

    let mut used: Vec<String> = Vec::new();
    let mut tensors = BTreeMap::new();
    for (name, entry) in index {
        let stored = match entry {
            EntryHeader::Full { shape, dtype } => StoredTensor::Full(take_raw(
                path, &file, &name, dtype, &shape, checksums, &mut used,
            )?),
            EntryHeader::Quantized { shape, dtype, config } => {
                config
                    .validate()
                    .map_err(|e| bad(&name, format!("bad settings in the header: {e}")))?;
                let numel: i64 = shape.iter().product();
                if shape.iter().any(|&d| d <= 0) || numel % config.group_size != 0 {
                    return Err(bad(
                        &name,
                        format!(
                            "shape {shape:?} does not split into groups of {}",
                            config.group_size
                        ),
                    ));
                }
                let groups = (numel / config.group_size) as usize;
                let words = pack::packed_len(config.nbits, numel) as usize;
                let packed_dtype = dtype_of(pack::packed_kind(config.nbits)).unwrap_or(Dtype::U8);
                let mut take = |tensor: String, dtype: Dtype, shape: &[usize]| {
                    let raw = take_raw(path, &file, &tensor, dtype, shape, checksums, &mut used)?;
                    Ok::<_, QuantError>(raw.to_tensor()?.f_to_device(device)?)
                };
                let packed = take(format!("{name}.qweight"), packed_dtype, &[words])?;
                let mut meta = |part: &str| -> Result<MetaTensor, QuantError> {
                    let base = format!("{name}.{part}");
                    if config.quant_meta {
                        let meta_groups = groups.div_ceil(META_GROUP as usize);
                        Ok(MetaTensor::Quantized {
                            codes: take(format!("{base}.codes"), Dtype::U8, &[groups])?,
                            step: take(format!("{base}.step"), Dtype::F32, &[meta_groups])?,
                            zero: take(format!("{base}.zero"), Dtype::F32, &[meta_groups])?,
                        })
                    } else {
                        let meta_dtype = dtype_of(config.meta_dtype.kind()).unwrap_or(Dtype::F32);
                        Ok(MetaTensor::Plain(take(base, meta_dtype, &[groups])?))
                    }
                };
                let scale = meta("scale")?;
                let zero = meta("zero")?;
                StoredTensor::Quantized {
                    weight: QuantizedTensor { config, shape, packed, scale, zero },
                    dtype,
                }
            }
        };
        tensors.insert(name, stored);
    }
    if let Some(stray) = file.names().into_iter().find(|n| !used.iter().any(|u| u == n)) {
        return Err(bad(stray, "in the file but not in the header's `tensors` index".into()));
    }
    if let Some(stray) = checksums.and_then(|c| c.keys().find(|n| !used.contains(n))) {
        return Err(bad(stray, "has a checksum in the header but is not in the file".into()));
    }
    let metadata =
        header.into_iter().filter(|(key, _)| !RESERVED_KEYS.contains(&key.as_str())).collect();
    Ok(QuantizedFile { tensors, tool_version, metadata })
}

/// The header fields of a quantized file that [`read_quantized`] uses.
struct Header {
    tool_version: String,
    index: BTreeMap<String, EntryHeader>,
    /// None in files written before checksums existed.
    checksums: Option<BTreeMap<String, String>>,
}

/// Checks a quantized file's header: its format name and version; returns its fields.
fn read_header(
    header: &std::collections::HashMap<String, String>,
    bad: &dyn Fn(&str, String) -> QuantError,
) -> Result<Header, QuantError> {
    let field = |key: &str| {
        header.get(key).ok_or_else(|| {
            bad("(header)", format!("no `{key}` in the header: not a quantized checkpoint"))
        })
    };
    if field("format")? != FORMAT_NAME {
        return Err(bad(
            "(header)",
            format!("`format` is `{}`, expected `{FORMAT_NAME}`", field("format")?),
        ));
    }
    let version = field("format_version")?;
    if version.parse::<u32>().ok() != Some(FORMAT_VERSION) {
        return Err(bad(
            "(header)",
            format!(
                "unknown format version `{version}` (this build reads version {FORMAT_VERSION})"
            ),
        ));
    }
    let tool_version = field("tool_version")?.clone();
    let index: BTreeMap<String, EntryHeader> = serde_json::from_str(field("tensors")?)
        .map_err(|e| bad("(header)", format!("the `tensors` index does not parse: {e}")))?;
    // Files written before checksums existed have none; they load unchecked.
    let checksums: Option<BTreeMap<String, String>> = header
        .get("checksums")
        .map(|text| serde_json::from_str(text))
        .transpose()
        .map_err(|e| bad("(header)", format!("the `checksums` map does not parse: {e}")))?;
    Ok(Header { tool_version, index, checksums })
}

/// One tensor of the file, checked against the dtype and shape the header implies and, when
/// the header has checksums, against its checksum.
fn take_raw(
    path: &Path,
    file: &SafeTensors<'_>,
    name: &str,
    dtype: Dtype,
    shape: &[usize],
    checksums: Option<&BTreeMap<String, String>>,
    used: &mut Vec<String>,
) -> Result<RawTensor, QuantError> {
    let bad = |reason: String| QuantError::Checkpoint {
        file: path.to_path_buf(),
        tensor: name.to_string(),
        reason,
    };
    let view = file.tensor(name).map_err(|_| bad("missing from the file".into()))?;
    if view.dtype() != dtype || view.shape() != shape {
        return Err(bad(format!(
            "expected {dtype:?} {shape:?} from the header, found {:?} {:?} (mismatched file)",
            view.dtype(),
            view.shape()
        )));
    }
    if let Some(checksums) = checksums {
        let want = checksums.get(name).ok_or_else(|| bad("no checksum in the header".into()))?;
        let got = checksum(view.data());
        if &got != want {
            return Err(bad(format!(
                "its bytes have checksum {got}, the header says {want}: the file was altered \
                 or corrupted"
            )));
        }
    }
    used.push(name.to_string());
    Ok(RawTensor { dtype, shape: shape.to_vec(), data: view.data().to_vec() })
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, QuantError> {
    std::fs::read(path).map_err(|source| QuantError::Io {
        action: "reading",
        file: path.to_path_buf(),
        source,
    })
}

/// The safetensors dtype of a torch kind, where there is one.
pub fn dtype_of(kind: Kind) -> Option<Dtype> {
    Some(match kind {
        Kind::Bool => Dtype::BOOL,
        Kind::Uint8 => Dtype::U8,
        Kind::Int8 => Dtype::I8,
        Kind::Int16 => Dtype::I16,
        Kind::Int => Dtype::I32,
        Kind::Int64 => Dtype::I64,
        Kind::Half => Dtype::F16,
        Kind::BFloat16 => Dtype::BF16,
        Kind::Float => Dtype::F32,
        Kind::Double => Dtype::F64,
        _ => return None,
    })
}

/// The torch kind of a safetensors dtype, where there is one.
pub fn kind_of(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::BOOL => Kind::Bool,
        Dtype::U8 => Kind::Uint8,
        Dtype::I8 => Kind::Int8,
        Dtype::I16 => Kind::Int16,
        Dtype::I32 => Kind::Int,
        Dtype::I64 => Kind::Int64,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F32 => Kind::Float,
        Dtype::F64 => Kind::Double,
        _ => return None,
    })
}
