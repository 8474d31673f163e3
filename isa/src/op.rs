//! Which operation a descriptor performs, in names a user recognises (spec `isa.md` §3.4, §4.2).

use crate::chip::Chip;
use crate::tdma::TdmaDesc;
use crate::tiu::TiuDesc;
use serde::Serialize;

/// A descriptor operand, as the op list names what an operation reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Operand {
    /// TIU operands: inputs 0..2 and the result.
    Opd0,
    Opd1,
    Opd2,
    Res0,
    /// TDMA source and destination (their local-memory side).
    Src,
    Dst,
}

impl Operand {
    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of [`Operand`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Operands(u8);

impl Operands {
    pub const NONE: Operands = Operands(0);

    pub const fn of(list: &[Operand]) -> Operands {
        let mut bits = 0;
        let mut i = 0;
        while i < list.len() {
            bits |= list[i].bit();
            i += 1;
        }
        Operands(bits)
    }

    #[inline]
    pub const fn contains(self, o: Operand) -> bool {
        self.0 & o.bit() != 0
    }
}

/// Which executor family runs a TIU operation (and which operand fields its line shows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum TiuKind {
    Conv,
    Depthwise,
    Pool,
    Matmul,
    /// Explicit-stride operands of one shape (tsk_typ 3).
    Eltwise,
    Lut,
    MdSum,
}

impl TiuKind {
    /// Whether the operation slides a kernel window (kernel, stride, padding fields apply).
    pub fn windowed(self) -> bool {
        matches!(self, TiuKind::Conv | TiuKind::Depthwise | TiuKind::Pool)
    }
}

/// The timing model's cost formula for a TIU operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum TiuCost {
    Conv,
    /// Max and min pooling share a datapath.
    ExtremumPool,
    AvgPool,
    Depthwise,
    Matmul,
    Lut,
    MdSum,
    Mul,
    Mac,
    AddSub,
    /// Comparisons and bitwise operations.
    Logic,
    Shift,
    Copy,
    /// An operation the decoder does not know.
    Unknown,
}

/// When a `(tsk_typ, tsk_eu_typ)` code means an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum When {
    Always,
    /// Only on chips whose layout family has `ge` and min pooling.
    GeAndMinPool,
    /// Only with per-channel quantisation (`opt_chl_quan`); listed before the plain op of its code.
    ChannelQuant,
    /// Only where lookup tables are selected by `tsk_eu_typ` (not by a flag).
    EuCodedTables,
}

/// One entry of the op list: everything the decoder, disassembler, executors, checker and timing
/// model need to know about a TIU operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TiuOpInfo {
    pub op: TiuOp,
    pub name: &'static str,
    /// `(tsk_typ, tsk_eu_typ)`; `None` for an operation only a flag selects.
    pub code: Option<(u32, u32)>,
    pub when: When,
    pub kind: TiuKind,
    pub cost: TiuCost,
    /// Operands whose bytes it reads (constants included: the line shows them) and writes.
    pub reads: Operands,
    pub writes: Operands,
}

macro_rules! tiu_ops {
    ($(
        $(#[doc = $doc:literal])*
        $op:ident $name:literal, code $code:expr, when $when:ident, $kind:ident, cost $cost:ident,
            reads [$($r:ident),*], writes [$($w:ident),*];
    )*) => {
        /// A TIU task.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
        pub enum TiuOp {
            $($(#[doc = $doc])* $op,)*
            Unknown { tsk_typ: u8, eu_typ: u8 },
        }

        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Clone, Copy)]
        enum TiuIdx { $($op,)* }

        /// The op list: every TIU operation, in decoding priority order.
        pub const TIU_OPS: &[TiuOpInfo] = &[$(TiuOpInfo {
            op: TiuOp::$op,
            name: $name,
            code: $code,
            when: When::$when,
            kind: TiuKind::$kind,
            cost: TiuCost::$cost,
            reads: Operands::of(&[$(Operand::$r),*]),
            writes: Operands::of(&[$(Operand::$w),*]),
        },)*];

        impl TiuOp {
            /// The operation's op-list entry (`None` for an unknown one).
            #[inline]
            pub fn info(self) -> Option<&'static TiuOpInfo> {
                match self {
                    $(TiuOp::$op => Some(&TIU_OPS[TiuIdx::$op as usize]),)*
                    TiuOp::Unknown { .. } => None,
                }
            }
        }
    };
}

// A partial-sum result (`ps32_md` mid/last) and a `mac` accumulator are also read back through
// res0; the checker does not track those reads.
tiu_ops! {
    Conv "conv", code Some((0, 0)), when Always, Conv, cost Conv, reads [Opd0, Opd1, Opd2], writes [Res0];
    MaxPool "max_pool", code Some((1, 0)), when Always, Pool, cost ExtremumPool, reads [Opd0], writes [Res0];
    /// The averaging constant is an immediate in opd1.
    AvgPool "avg_pool", code Some((1, 1)), when Always, Pool, cost AvgPool, reads [Opd0, Opd1], writes [Res0];
    DepthwiseConv "dwconv", code Some((1, 2)), when Always, Depthwise, cost Depthwise, reads [Opd0, Opd1, Opd2], writes [Res0];
    MinPool "min_pool", code Some((1, 3)), when GeAndMinPool, Pool, cost ExtremumPool, reads [Opd0], writes [Res0];
    Matmul "matmul", code Some((2, 0)), when Always, Matmul, cost Matmul, reads [Opd0, Opd1, Opd2], writes [Res0];
    MulQm "mul_qm", code Some((3, 0)), when ChannelQuant, Eltwise, cost Mul, reads [Opd0, Opd1], writes [Res0];
    Mul "mul", code Some((3, 0)), when Always, Eltwise, cost Mul, reads [Opd0, Opd1], writes [Res0];
    Mac "mac", code Some((3, 1)), when Always, Eltwise, cost Mac, reads [Opd0, Opd1], writes [Res0];
    Add "add", code Some((3, 2)), when Always, Eltwise, cost AddSub, reads [Opd0, Opd1], writes [Res0];
    Sub "sub", code Some((3, 3)), when Always, Eltwise, cost AddSub, reads [Opd0, Opd1], writes [Res0];
    Max "max", code Some((3, 4)), when Always, Eltwise, cost Logic, reads [Opd0, Opd1], writes [Res0];
    Min "min", code Some((3, 5)), when Always, Eltwise, cost Logic, reads [Opd0, Opd1], writes [Res0];
    ArithShift "arith_shift", code Some((3, 6)), when Always, Eltwise, cost Shift, reads [Opd0, Opd1], writes [Res0];
    And "and", code Some((3, 7)), when Always, Eltwise, cost Logic, reads [Opd0, Opd1], writes [Res0];
    Or "or", code Some((3, 8)), when Always, Eltwise, cost Logic, reads [Opd0, Opd1], writes [Res0];
    Xor "xor", code Some((3, 9)), when Always, Eltwise, cost Logic, reads [Opd0, Opd1], writes [Res0];
    Copy "copy", code Some((3, 10)), when Always, Eltwise, cost Copy, reads [Opd0], writes [Res0];
    Ge "ge", code Some((3, 11)), when GeAndMinPool, Eltwise, cost Logic, reads [Opd0, Opd1], writes [Res0];
    /// opd1 holds the table; CV183x selects it by `tens_lookup`.
    Lut "lut", code Some((3, 12)), when EuCodedTables, Lut, cost Lut, reads [Opd0, Opd1], writes [Res0];
    /// CV183x only, selected by `tens_mdsum`.
    MdSum "mdsum", code None, when Always, MdSum, cost MdSum, reads [Opd0], writes [Res0];
}

impl TiuOp {
    pub fn name(self) -> &'static str {
        self.info().map_or("unknown", |i| i.name)
    }

    /// Element-wise ops (tsk_typ 3) share explicit-stride operands.
    pub fn is_elementwise(self) -> bool {
        self.info().is_some_and(|i| i.kind == TiuKind::Eltwise)
    }

    pub fn cost(self) -> TiuCost {
        self.info().map_or(TiuCost::Unknown, |i| i.cost)
    }

    /// Operands it reads; an unknown operation is taken to read every input.
    pub fn reads(self) -> Operands {
        self.info().map_or(Operands::of(&[Operand::Opd0, Operand::Opd1, Operand::Opd2]), |i| i.reads)
    }

    pub fn writes(self) -> Operands {
        self.info().map_or(Operands::of(&[Operand::Res0]), |i| i.writes)
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
        let code = (self.tsk_typ, self.tsk_eu_typ);
        let found = TIU_OPS.iter().find(|i| {
            i.code == Some(code)
                && match i.when {
                    When::Always => true,
                    When::GeAndMinPool => chip.layout().has_ge_and_min_pool(),
                    When::ChannelQuant => self.opt_chl_quan != 0,
                    When::EuCodedTables => !by_flag,
                }
        });
        found.map_or(TiuOp::Unknown { tsk_typ: self.tsk_typ as u8, eu_typ: self.tsk_eu_typ as u8 }, |i| i.op)
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
    /// for a PReLU whose slopes quantise to zero (the vectors of `sim/tests/res_shift.rs`).
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

/// The op list's entry for a TDMA transfer kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TdmaKindInfo {
    pub name: &'static str,
    /// Sides whose local-memory bytes it reads and writes.
    pub reads: Operands,
    pub writes: Operands,
}

impl TdmaKind {
    pub fn info(self) -> TdmaKindInfo {
        const MOVE: (Operands, Operands) = (Operands::of(&[Operand::Src]), Operands::of(&[Operand::Dst]));
        let (name, (reads, writes)) = match self {
            TdmaKind::Tensor => ("tensor", MOVE),
            TdmaKind::Matrix => ("matrix", MOVE),
            TdmaKind::General => ("general", MOVE),
            TdmaKind::Fill => ("fill", (Operands::NONE, MOVE.1)),
            TdmaKind::NcTranspose => ("tensor.nc_transpose", MOVE),
            TdmaKind::CwTranspose => ("tensor.cw_transpose", MOVE),
            TdmaKind::HwcToChw(3) => ("tensor.hwc3_to_chw", MOVE),
            TdmaKind::HwcToChw(_) => ("tensor.hwc4_to_chw", MOVE),
            TdmaKind::RowColTranspose => ("matrix.row_col_transpose", MOVE),
            TdmaKind::Unknown { .. } => ("unknown", MOVE),
        };
        TdmaKindInfo { name, reads, writes }
    }
}

impl TdmaOp {
    pub fn name(&self) -> String {
        let kind = self.kind.info().name;
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

impl crate::cmdbuf::Desc {
    /// The operands the op list says this descriptor reads (none for a CPU record).
    pub fn reads(&self, chip: Chip) -> Operands {
        match self {
            crate::cmdbuf::Desc::Tiu(d) => d.op(chip).reads(),
            crate::cmdbuf::Desc::Tdma(d) => d.op().kind.info().reads,
            crate::cmdbuf::Desc::Cpu(_) => Operands::NONE,
        }
    }

    /// The operands the op list says this descriptor writes.
    pub fn writes(&self, chip: Chip) -> Operands {
        match self {
            crate::cmdbuf::Desc::Tiu(d) => d.op(chip).writes(),
            crate::cmdbuf::Desc::Tdma(d) => d.op().kind.info().writes,
            crate::cmdbuf::Desc::Cpu(_) => Operands::NONE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_list_decodes_each_op_from_its_own_code() {
        for chip in Chip::ALL {
            let by_flag = chip.layout().tiu_ops_by_flag();
            for info in TIU_OPS {
                let Some((tsk, eu)) = info.code else { continue };
                let mut d = TiuDesc { tsk_typ: tsk, tsk_eu_typ: eu, ..TiuDesc::default() };
                if info.when == When::ChannelQuant {
                    d.opt_chl_quan = 1;
                }
                let available = match info.when {
                    When::GeAndMinPool => chip.layout().has_ge_and_min_pool(),
                    When::EuCodedTables => !by_flag,
                    _ => true,
                };
                let want = if available { info.op } else { TiuOp::Unknown { tsk_typ: tsk as u8, eu_typ: eu as u8 } };
                assert_eq!(d.op(chip), want, "{chip} {}", info.name);
                assert_eq!(info.op.info(), Some(info));
            }
        }
    }

    #[test]
    fn names_are_unique_and_every_op_writes_its_result() {
        for (i, a) in TIU_OPS.iter().enumerate() {
            assert!(TIU_OPS[i + 1..].iter().all(|b| b.name != a.name), "{}", a.name);
            assert!(a.writes.contains(Operand::Res0) && !a.reads.contains(Operand::Res0), "{}", a.name);
            assert_eq!(a.kind == TiuKind::Eltwise, a.op.is_elementwise());
        }
    }
}
