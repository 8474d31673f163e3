//! A cmdbuf kept encoded: its bytes (usually a range of the model file, shared) and an index of
//! its records, decoding a descriptor only when it is asked for.
//!
//! A decoded TIU descriptor takes 460 bytes in a box against its 112 encoded ones, so holding a
//! large cmdbuf decoded for the whole run costs several times its size (the 18 263 descriptors of
//! a cv180x mobilenet_v2 take 6 MB decoded). Every record header is checked when the stream is
//! built; a body of the right length always decodes, so a stream that was built never fails to
//! decode later.

use crate::chip::Chip;
use crate::cmdbuf::{decode_body, encode_cmdbuf, walk_cmdbuf, Command, Desc, Engine};
use crate::codec::EncodeError;
use crate::dmabuf::{segments_of, Segment};
use crate::error::StreamError;
use crate::layout::{FieldSpec, Layout};
use crate::tdma::{tdma_layout, TdmaDesc, TdmaField};
use crate::tiu::{tiu_layout, TiuDesc, TiuField};
use std::ops::Range;
use std::sync::{Arc, OnceLock};

/// What the index keeps of one record: enough to cut segments and check sync ids without decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    /// Byte offset of the record header within the stream.
    offset: u32,
    engine: Engine,
    /// The descriptor's own sync id (TIU `cmd_id_tpu`, TDMA `cmd_id`; 0 for a CPU record).
    own_id: u16,
    /// The other engine's id it waits for, as [`Desc::wait_id`] gives it.
    wait_id: u16,
}

/// Why a stream could not be built from decoded commands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FromCommandsError {
    #[error("descriptor does not encode: {0}")]
    Encode(#[from] EncodeError),
    /// A command's stored record header is not a valid header for its descriptor.
    #[error(transparent)]
    Stream(#[from] StreamError),
}

/// An encoded command stream with an index of its records.
#[derive(Clone, Debug)]
pub struct CommandStream {
    chip: Chip,
    bytes: Arc<Vec<u8>>,
    range: Range<usize>,
    index: Vec<Entry>,
    segments: Vec<Segment>,
    /// Every descriptor decoded, made on first use by a reader that looks at any descriptor
    /// (timing, checker, debugger); a plain run decodes one at a time and never fills it.
    decoded: OnceLock<Vec<Command>>,
}

fn spec<F: Copy + PartialEq>(layout: &'static Layout<F>, id: F) -> &'static FieldSpec<F> {
    layout.fields.iter().find(|f| f.id == id).expect("every layout has the sync-id fields")
}

/// Where a chip's descriptors hold their sync ids, looked up once per stream rather than once per
/// descriptor.
struct SyncFields {
    tiu_own: &'static FieldSpec<TiuField>,
    tiu_wait: &'static FieldSpec<TiuField>,
    tdma_own: &'static FieldSpec<TdmaField>,
    tdma_barrier: &'static FieldSpec<TdmaField>,
    tdma_wait: &'static FieldSpec<TdmaField>,
}

impl SyncFields {
    fn new(chip: Chip) -> SyncFields {
        let (tiu, tdma) = (tiu_layout(chip), tdma_layout(chip));
        SyncFields {
            tiu_own: spec(tiu, TiuField::cmd_id_tpu),
            tiu_wait: spec(tiu, TiuField::cmd_id_gdma),
            tdma_own: spec(tdma, TdmaField::cmd_id),
            tdma_barrier: spec(tdma, TdmaField::bar_en),
            tdma_wait: spec(tdma, TdmaField::wait_id_tpu),
        }
    }

    /// (own id, wait id) of a record, as [`Desc::own_id`] and [`Desc::wait_id`] give them.
    fn of(&self, engine: Engine, body: &[u8]) -> (u32, u32) {
        match engine {
            Engine::Tiu => (read(body, self.tiu_own), read(body, self.tiu_wait)),
            Engine::Tdma => {
                let wait = crate::cmdbuf::tdma_wait_id(read(body, self.tdma_barrier), read(body, self.tdma_wait));
                (read(body, self.tdma_own), wait)
            }
            Engine::Cpu => (0, 0),
        }
    }
}

/// Read one field straight from a descriptor's bytes.
fn read(body: &[u8], f: &FieldSpec<impl Copy>) -> u32 {
    let word = |i: usize| body.get(i * 4..i * 4 + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let (w, sh) = (f.word(), f.bit as u32 % 32);
    let v = (word(w) as u64 | (word(w + 1) as u64) << 32) >> sh;
    (v & f.mask() as u64) as u32
}

impl CommandStream {
    /// Index the cmdbuf held in `bytes[range]`, checking every record header as
    /// [`crate::parse_cmdbuf`] does (errors give offsets within the range). When `chip` is given
    /// the records must carry its magic.
    pub fn parse(bytes: Arc<Vec<u8>>, range: Range<usize>, chip: Option<Chip>) -> Result<CommandStream, StreamError> {
        let Some(buf) = bytes.get(range.clone()) else {
            let have = bytes.len().saturating_sub(range.start);
            return Err(StreamError::Truncated { offset: 0, what: "command buffer", need: range.len(), have });
        };
        let mut index = Vec::new();
        let mut sync = None;
        let chip = walk_cmdbuf(buf, chip, |chip, offset, _, engine, body| {
            let (own_id, wait_id) = sync.get_or_insert_with(|| SyncFields::new(chip)).of(engine, body);
            // A section is at most 4 GiB (its size is a u32 in the file).
            index.push(Entry { offset: offset as u32, engine, own_id: own_id as u16, wait_id: wait_id as u16 });
        })?;
        let segments = segments_of(index.iter().map(|e| (e.engine, e.own_id)));
        Ok(CommandStream { chip, bytes, range, index, segments, decoded: OnceLock::new() })
    }

    /// Index a cmdbuf held in its own buffer.
    pub fn from_vec(buf: Vec<u8>, chip: Option<Chip>) -> Result<CommandStream, StreamError> {
        let len = buf.len();
        CommandStream::parse(Arc::new(buf), 0..len, chip)
    }

    /// Encode decoded commands (tests, and tools that edit descriptors), reusing each command's
    /// stored record header when it has one.
    pub fn from_commands(chip: Chip, cmds: &[Command]) -> Result<CommandStream, FromCommandsError> {
        Ok(CommandStream::from_vec(encode_cmdbuf(chip, cmds)?, Some(chip))?)
    }

    pub fn chip(&self) -> Chip {
        self.chip
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The encoded stream.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[self.range.clone()]
    }

    /// The segments the stream runs in ([`crate::dmabuf::segments`]).
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    pub fn engine(&self, i: usize) -> Option<Engine> {
        self.index.get(i).map(|e| e.engine)
    }

    /// Descriptor `i`'s own sync id ([`Desc::own_id`]).
    pub fn own_id(&self, i: usize) -> Option<u16> {
        self.index.get(i).and_then(|e| (e.engine != Engine::Cpu).then_some(e.own_id))
    }

    /// The id descriptor `i` waits for ([`Desc::wait_id`]).
    pub fn wait_id(&self, i: usize) -> Option<u16> {
        self.index.get(i).and_then(|e| (e.engine != Engine::Cpu).then_some(e.wait_id))
    }

    fn record(&self, i: usize) -> Option<(Entry, &[u8])> {
        let e = *self.index.get(i)?;
        let at = self.range.start + e.offset as usize;
        Some((e, &self.bytes[at..at + crate::cmdbuf::HEADER_BYTES + e.engine.payload_bytes()]))
    }

    /// Decode descriptor `i`.
    pub fn get(&self, i: usize) -> Option<Command> {
        let (e, rec) = self.record(i)?;
        let (hdr, body) = rec.split_at(crate::cmdbuf::HEADER_BYTES);
        let header = Some(hdr.try_into().expect("8 bytes"));
        Some(Command { offset: e.offset as usize, header, desc: decode_body(self.chip, e.engine, body) })
    }

    /// Decode descriptor `i` into `slot`, reusing the box it holds when that is of the same
    /// engine: the run loop decodes every descriptor once per run and need not allocate for each.
    pub fn decode_into<'a>(&self, i: usize, slot: &'a mut Option<Desc>) -> Option<&'a Desc> {
        let (e, rec) = self.record(i)?;
        let body = &rec[crate::cmdbuf::HEADER_BYTES..];
        match (e.engine, slot.as_mut()) {
            (Engine::Tiu, Some(Desc::Tiu(d))) => **d = TiuDesc::decode(self.chip, body.try_into().expect("TIU bytes")),
            (Engine::Tdma, Some(Desc::Tdma(d))) => {
                **d = TdmaDesc::decode(self.chip, body.try_into().expect("TDMA bytes"))
            }
            (engine, _) => *slot = Some(decode_body(self.chip, engine, body)),
        }
        slot.as_ref()
    }

    /// Every command, decoded in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Command> + '_ {
        (0..self.len()).map(|i| self.get(i).expect("index in range"))
    }

    /// The whole stream decoded, once per stream (the timing model, the checker and the debugger
    /// look at any descriptor, not just the one running).
    pub fn commands(&self) -> &[Command] {
        self.decoded.get_or_init(|| self.iter().collect())
    }
}
