//! TensorBoard event files written directly: TFRecord framing (length, masked CRC-32C, payload, masked CRC-32C)
//! around hand-encoded `Event` protocol buffers carrying scalar summaries and the run's hyperparameters (the
//! HParams dashboard's session start). Readable by `tensorboard` and by `wandb sync --sync-tensorboard`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// One hyperparameter value, as the HParams plugin stores it (a `google.protobuf.Value`).
#[derive(Debug, Clone, PartialEq)]
pub enum HParam {
    /// A number.
    Number(f64),
    /// Text.
    Text(String),
    /// A flag.
    Bool(bool),
}

/// Appends scalar events to one `events.out.tfevents.*` file.
pub struct EventWriter {
    file: BufWriter<File>,
    path: PathBuf,
}

impl EventWriter {
    /// Creates a new event file in `dir` (named as TensorBoard expects) and writes the version record.
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let path = dir.join(format!("events.out.tfevents.{}.{}", now.as_secs(), std::process::id()));
        let mut writer = Self { file: BufWriter::new(File::create(&path)?), path };
        let mut event = Vec::new();
        put_double(&mut event, 1, now.as_secs_f64());
        put_bytes(&mut event, 3, b"brain.Event:2");
        writer.record(&event)?;
        Ok(writer)
    }

    /// Marks a restart at `step` (a `SessionLog` START event): TensorBoard then drops the points an earlier
    /// process wrote at this step or later, as PyTorch's `SummaryWriter(purge_step=)` does, so resumed curves do not
    /// fold back on themselves.
    pub fn restart_at(&mut self, step: u64) -> std::io::Result<()> {
        let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut session = Vec::new();
        put_varint_field(&mut session, 1, 1); // status = START
        let mut event = Vec::new();
        put_double(&mut event, 1, wall.as_secs_f64());
        put_varint_field(&mut event, 2, step);
        put_bytes(&mut event, 7, &session);
        self.record(&event)?;
        self.file.flush()
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one event holding `values` (tag, value) at `step`, and flushes.
    pub fn scalars(&mut self, step: u64, values: &[(String, f64)]) -> std::io::Result<()> {
        let mut summary = Vec::new();
        for (tag, value) in values {
            let mut v = Vec::new();
            put_bytes(&mut v, 1, tag.as_bytes());
            put_fixed32(&mut v, 2, (*value as f32).to_bits());
            put_bytes(&mut summary, 1, &v);
        }
        self.event(Some(step), &summary)
    }

    /// Writes the run's hyperparameters as the HParams plugin's session start (`_hparams_/session_start_info`, as
    /// `tensorboard.plugins.hparams` writes it), so TensorBoard's HParams tab lists this run with them beside its
    /// scalars.
    pub fn hparams(&mut self, values: &[(String, HParam)]) -> std::io::Result<()> {
        let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut start = Vec::new(); // SessionStartInfo
        for (name, value) in values {
            let mut v = Vec::new(); // google.protobuf.Value
            match value {
                HParam::Number(x) => put_double(&mut v, 2, *x),
                HParam::Text(t) => put_bytes(&mut v, 3, t.as_bytes()),
                HParam::Bool(b) => put_varint_field(&mut v, 4, u64::from(*b)),
            }
            let mut entry = Vec::new(); // map<string, Value> entry
            put_bytes(&mut entry, 1, name.as_bytes());
            put_bytes(&mut entry, 2, &v);
            put_bytes(&mut start, 1, &entry);
        }
        put_double(&mut start, 5, wall.as_secs_f64());
        let mut data = Vec::new(); // HParamsPluginData (version 0)
        put_bytes(&mut data, 3, &start);
        let mut tensor = Vec::new(); // the plugin's placeholder tensor: DT_FLOAT, float_val [0]
        put_varint_field(&mut tensor, 1, 1);
        put_bytes(&mut tensor, 5, &0f32.to_le_bytes());
        let summary = plugin_summary("_hparams_/session_start_info", &tensor, "hparams", &data);
        self.event(None, &summary)
    }

    /// Writes `markdown` at `step` under `tag` for TensorBoard's Text tab (the text plugin's scalar string
    /// tensor), and flushes.
    pub fn text(&mut self, step: u64, tag: &str, markdown: &str) -> std::io::Result<()> {
        let mut tensor = Vec::new(); // TensorProto: DT_STRING, scalar shape, one string_val
        put_varint_field(&mut tensor, 1, 7);
        put_bytes(&mut tensor, 2, &[]);
        put_bytes(&mut tensor, 8, markdown.as_bytes());
        self.event(Some(step), &plugin_summary(tag, &tensor, "text", &[]))
    }

    /// Writes one event (now, at `step` when given) holding the encoded `summary`, and flushes.
    fn event(&mut self, step: Option<u64>, summary: &[u8]) -> std::io::Result<()> {
        let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut event = Vec::new();
        put_double(&mut event, 1, wall.as_secs_f64());
        if let Some(step) = step {
            put_varint_field(&mut event, 2, step);
        }
        put_bytes(&mut event, 5, summary);
        self.record(&event)?;
        self.file.flush()
    }

    fn record(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let len = (payload.len() as u64).to_le_bytes();
        self.file.write_all(&len)?;
        self.file.write_all(&masked_crc(&len).to_le_bytes())?;
        self.file.write_all(payload)?;
        self.file.write_all(&masked_crc(payload).to_le_bytes())
    }
}

/// A summary of one tensor value `tag` owned by TensorBoard plugin `plugin` (with its plugin `content`).
fn plugin_summary(tag: &str, tensor: &[u8], plugin: &str, content: &[u8]) -> Vec<u8> {
    let mut data = Vec::new(); // SummaryMetadata.PluginData
    put_bytes(&mut data, 1, plugin.as_bytes());
    if !content.is_empty() {
        put_bytes(&mut data, 2, content);
    }
    let mut metadata = Vec::new();
    put_bytes(&mut metadata, 1, &data);
    let mut value = Vec::new();
    put_bytes(&mut value, 1, tag.as_bytes());
    put_bytes(&mut value, 8, tensor);
    put_bytes(&mut value, 9, &metadata);
    let mut summary = Vec::new();
    put_bytes(&mut summary, 1, &value);
    summary
}

/// TFRecord's masked CRC-32C.
pub fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    put_varint(out, (field as u64) << 3);
    put_varint(out, v);
}

fn put_double(out: &mut Vec<u8>, field: u32, v: f64) {
    put_varint(out, ((field as u64) << 3) | 1);
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_fixed32(out: &mut Vec<u8>, field: u32, v: u32) {
    put_varint(out, ((field as u64) << 3) | 5);
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_varint(out, ((field as u64) << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}
