//! Which operation a descriptor performs, in names a user recognises (spec `isa.md` §3.4, §4.2).

use crate::chip::Chip;
use crate::tdma::TdmaDesc;
use crate::tiu::TiuDesc;
use serde::Serialize;

/// A TIU task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum TiuOp {
    Conv,
    DepthwiseConv,
    MaxPool,
    AvgPool,
    MinPool,
    Matmul,
    Mul,
    MulQm,
    Mac,
    Add,
    Sub,
    Max,
    Min,
    ArithShift,
    And,
    Or,
    Xor,
    Copy,
    Ge,
    Lut,
    MdSum,
    Unknown { tsk_typ: u8, eu_typ: u8 },
}

impl TiuOp {
    pub fn name(self) -> &'static str {
        match self {
            TiuOp::Conv => "conv",
            TiuOp::DepthwiseConv => "dwconv",
            TiuOp::MaxPool => "max_pool",
            TiuOp::AvgPool => "avg_pool",
            TiuOp::MinPool => "min_pool",
            TiuOp::Matmul => "matmul",
            TiuOp::Mul => "mul",
            TiuOp::MulQm => "mul_qm",
            TiuOp::Mac => "mac",
            TiuOp::Add => "add",
            TiuOp::Sub => "sub",
            TiuOp::Max => "max",
            TiuOp::Min => "min",
            TiuOp::ArithShift => "arith_shift",
            TiuOp::And => "and",
            TiuOp::Or => "or",
            TiuOp::Xor => "xor",
            TiuOp::Copy => "copy",
            TiuOp::Ge => "ge",
            TiuOp::Lut => "lut",
            TiuOp::MdSum => "mdsum",
            TiuOp::Unknown { .. } => "unknown",
        }
    }

    /// Element-wise ops (tsk_typ 3) share explicit-stride operands.
    pub fn is_elementwise(self) -> bool {
        matches!(
            self,
            TiuOp::Mul
                | TiuOp::MulQm
                | TiuOp::Mac
                | TiuOp::Add
                | TiuOp::Sub
                | TiuOp::Max
                | TiuOp::Min
                | TiuOp::ArithShift
                | TiuOp::And
                | TiuOp::Or
                | TiuOp::Xor
                | TiuOp::Copy
                | TiuOp::Ge
        )
    }
}

impl TiuDesc {
    /// Classify the task. CV183x selects lookup and mdsum by flags; CV18[0-2]x by `tsk_eu_typ`.
    pub fn op(&self, chip: Chip) -> TiuOp {
        let by_flag = chip.layout().tiu_ops_by_flag();
        if by_flag && self.tsk_typ == 3 {
            if self.tens_lookup != 0 {
                return TiuOp::Lut;
            }
            if self.tens_mdsum != 0 {
                return TiuOp::MdSum;
            }
        }
        let unknown = TiuOp::Unknown { tsk_typ: self.tsk_typ as u8, eu_typ: self.tsk_eu_typ as u8 };
        match (self.tsk_typ, self.tsk_eu_typ) {
            (0, 0) => TiuOp::Conv,
            (1, 0) => TiuOp::MaxPool,
            (1, 1) => TiuOp::AvgPool,
            (1, 2) => TiuOp::DepthwiseConv,
            (1, 3) if chip.layout().has_ge_and_min_pool() => TiuOp::MinPool,
            (2, 0) => TiuOp::Matmul,
            (3, 0) if self.opt_chl_quan != 0 => TiuOp::MulQm,
            (3, 0) => TiuOp::Mul,
            (3, 1) => TiuOp::Mac,
            (3, 2) => TiuOp::Add,
            (3, 3) => TiuOp::Sub,
            (3, 4) => TiuOp::Max,
            (3, 5) => TiuOp::Min,
            (3, 6) => TiuOp::ArithShift,
            (3, 7) => TiuOp::And,
            (3, 8) => TiuOp::Or,
            (3, 9) => TiuOp::Xor,
            (3, 10) => TiuOp::Copy,
            (3, 11) if chip.layout().has_ge_and_min_pool() => TiuOp::Ge,
            (3, 12) if !by_flag => TiuOp::Lut,
            _ => unknown,
        }
    }

    pub fn is_bf16(&self) -> bool {
        self.opd_typ != 0
    }

    /// The result shift as a signed number: CV18[0-2]x's 6-bit field is two's complement in the
    /// per-channel/QM paths (negative = left shift); CV183x's 5-bit field is a plain right shift.
    /// The per-tensor paths read the field unsigned: see [`TiuDesc::plain_res_shift`].
    pub fn res_shift(&self, chip: Chip) -> i32 {
        let v = self.opt_res_shift as i32;
        if chip.layout().signed_shifts() && v >= 32 {
            v - 64
        } else {
            v
        }
    }

    /// The right shift of the per-tensor (non-QM) paths: the whole field unsigned, so 0..=63 on
    /// CV18[0-2]x (0..=31 on CV183x). The vendor simulator shifts a 32-bit value right by 32..63
    /// like any other amount (to 0 or -1, or the rounding bit), never left: tpu-mlir emits 48
    /// for a PReLU whose slopes quantise to zero (traces/spec-notes-res-shift-2026-12-07.md).
    pub fn plain_res_shift(&self) -> u32 {
        self.opt_res_shift
    }

    /// The padding/insert value: CV183x keeps bf16 and int8 pad values in separate fields.
    pub fn pad_value(&self, chip: Chip) -> u32 {
        if chip.layout().bf16_pad_field() && self.is_bf16() {
            self.opd0_ins_fp
        } else {
            self.opd0_ins_val
        }
    }

    /// Set the padding/insert value [`TiuDesc::pad_value`] reads.
    pub fn set_pad_value(&mut self, chip: Chip, v: u32) {
        if chip.layout().bf16_pad_field() && self.is_bf16() {
            self.opd0_ins_fp = v;
        } else {
            self.opd0_ins_val = v;
        }
    }
}

/// TDMA direction (`trans_dir`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Direction {
    G2L,
    L2G,
    G2G,
    L2L,
}

impl Direction {
    pub fn from_bits(v: u32) -> Direction {
        match v & 3 {
            0 => Direction::G2L,
            1 => Direction::L2G,
            2 => Direction::G2G,
            _ => Direction::L2L,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Direction::G2L => "g2l",
            Direction::L2G => "l2g",
            Direction::G2G => "g2g",
            Direction::L2L => "l2l",
        }
    }
    pub fn src_is_global(self) -> bool {
        matches!(self, Direction::G2L | Direction::G2G)
    }
    pub fn dst_is_global(self) -> bool {
        matches!(self, Direction::L2G | Direction::G2G)
    }
}

/// What a TDMA descriptor moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum TdmaKind {
    Tensor,
    Matrix,
    /// Flat byte copy of `src_n_stride` bytes.
    General,
    /// Constant fill of the destination with `const_val`.
    Fill,
    /// (N, C, H, W) → (C, N, H·W).
    NcTranspose,
    /// Local (n, c, h, w) → global (n, w, h, c).
    CwTranspose,
    /// Global HWC → local CHW, C = 3 or 4.
    HwcToChw(u8),
    /// Global matrix rows × cols → local cols × rows.
    RowColTranspose,
    Unknown {
        spec_func: u8,
        transpose_md: u8,
    },
}

/// Element format of one side of a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Fmt {
    I8,
    Bf16,
    Invalid(u8),
}

impl Fmt {
    pub fn from_bits(v: u32) -> Fmt {
        match v {
            1 => Fmt::I8,
            2 => Fmt::Bf16,
            v => Fmt::Invalid(v as u8),
        }
    }
    pub fn size(self) -> usize {
        match self {
            Fmt::Bf16 => 2,
            _ => 1,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Fmt::I8 => "i8",
            Fmt::Bf16 => "bf16",
            Fmt::Invalid(_) => "fmt?",
        }
    }
}

/// A classified TDMA transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct TdmaOp {
    pub dir: Direction,
    pub kind: TdmaKind,
    pub compressed: bool,
    pub src_fmt: Fmt,
    pub dst_fmt: Fmt,
    pub lut_idx: bool,
    pub lut_base: bool,
}

impl TdmaOp {
    pub fn name(&self) -> String {
        let kind = match self.kind {
            TdmaKind::Tensor => "tensor",
            TdmaKind::Matrix => "matrix",
            TdmaKind::General => "general",
            TdmaKind::Fill => "fill",
            TdmaKind::NcTranspose => "tensor.nc_transpose",
            TdmaKind::CwTranspose => "tensor.cw_transpose",
            TdmaKind::HwcToChw(3) => "tensor.hwc3_to_chw",
            TdmaKind::HwcToChw(_) => "tensor.hwc4_to_chw",
            TdmaKind::RowColTranspose => "matrix.row_col_transpose",
            TdmaKind::Unknown { .. } => "unknown",
        };
        let mut s = format!("{}.{}", self.dir.name(), kind);
        if self.compressed {
            s.push_str(if self.dir == Direction::L2G { ".compress" } else { ".decompress" });
        }
        if self.lut_idx {
            s.push_str(".lut_idx");
        }
        if self.lut_base {
            s.push_str(".lut_base");
        }
        if self.src_fmt != self.dst_fmt {
            s.push_str(&format!(".{}_to_{}", self.src_fmt.name(), self.dst_fmt.name()));
        } else if self.src_fmt == Fmt::Bf16 {
            s.push_str(".bf16");
        }
        s
    }
}

impl TdmaDesc {
    pub fn op(&self) -> TdmaOp {
        let dir = Direction::from_bits(self.trans_dir);
        let matrix = self.sys_dtype != 0;
        let kind = if self.trans_fmt != 0 {
            TdmaKind::General
        } else {
            match (self.spec_func, self.transpose_md) {
                (0, _) if matrix => TdmaKind::Matrix,
                (0, _) => TdmaKind::Tensor,
                (1, 0) if matrix => TdmaKind::RowColTranspose,
                (1, 0) => TdmaKind::NcTranspose,
                (1, 1) => TdmaKind::HwcToChw(3),
                (1, 2) => TdmaKind::HwcToChw(4),
                (1, 3) => TdmaKind::CwTranspose,
                (4, _) => TdmaKind::Fill,
                (s, t) => TdmaKind::Unknown { spec_func: s as u8, transpose_md: t as u8 },
            }
        };
        TdmaOp {
            dir,
            kind,
            compressed: self.compress_en != 0,
            src_fmt: Fmt::from_bits(self.src_fmt),
            dst_fmt: Fmt::from_bits(self.dst_fmt),
            lut_idx: self.mv_lut_idx != 0,
            lut_base: self.mv_lut_base != 0,
        }
    }

    pub fn src_addr(&self) -> u64 {
        (self.src_base_addr_high as u64) << 32 | self.src_base_addr_low as u64
    }
    pub fn dst_addr(&self) -> u64 {
        (self.dst_base_addr_high as u64) << 32 | self.dst_base_addr_low as u64
    }
    pub fn src_c_stride(&self) -> u32 {
        self.src_c_stride_high << 16 | self.src_c_stride_low
    }
    pub fn dst_c_stride(&self) -> u32 {
        self.dst_c_stride_high << 16 | self.dst_c_stride_low
    }
}
