//! The 224-byte CPU record of a cmdbuf, also the segment descriptor of a dmabuf (`bm_regcpu.h`,
//! `cvi_cpu_desc_t`).

pub const CPU_BYTES: usize = 224;

/// `op_type` values.
pub const CPU_OP_SYNC: u32 = 2;
pub const CPU_OP_INST: u32 = 3;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuDesc {
    pub bytes: [u8; CPU_BYTES],
}

impl CpuDesc {
    fn word(&self, i: usize) -> u32 {
        u32::from_le_bytes(self.bytes[i * 4..i * 4 + 4].try_into().expect("4 bytes"))
    }
    fn set_word(&mut self, i: usize, v: u32) {
        self.bytes[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    pub fn op_type(&self) -> u32 {
        self.word(0)
    }
    pub fn num_tiu(&self) -> u32 {
        self.word(1)
    }
    pub fn num_tdma(&self) -> u32 {
        self.word(2)
    }
    pub fn offset_tiu(&self) -> u32 {
        self.word(3)
    }
    pub fn offset_tdma(&self) -> u32 {
        self.word(4)
    }
    pub fn offset_tiu_ori_bk(&self) -> u32 {
        self.word(5)
    }
    pub fn offset_tdma_ori_bk(&self) -> u32 {
        self.word(6)
    }
    /// The NUL-terminated name string (a SYNC record's "layer_end", or an INST record's library).
    pub fn name(&self) -> String {
        let s = &self.bytes[28..];
        let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        String::from_utf8_lossy(&s[..end]).into_owned()
    }
    /// A dmabuf segment descriptor.
    pub fn sync(num_tiu: u32, num_tdma: u32, offset_tiu: u32, offset_tdma: u32) -> CpuDesc {
        let mut d = CpuDesc { bytes: [0; CPU_BYTES] };
        d.set_word(0, CPU_OP_SYNC);
        d.set_word(1, num_tiu);
        d.set_word(2, num_tdma);
        d.set_word(3, offset_tiu);
        d.set_word(4, offset_tdma);
        d.bytes[28..28 + 9].copy_from_slice(b"layer_end");
        d
    }
}
