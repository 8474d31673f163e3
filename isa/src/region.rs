//! The eight global-memory regions a program addresses (spec `runtime.md` §1.5): one per TDMA base
//! register, and the tag of a `.cvimodel` tensor address. Their numbers, names and roles are
//! defined here and nowhere else.

use serde::Serialize;
use std::fmt;

/// A global-memory region: the base register a descriptor selects, and the region a tagged
/// address names. Always one of the eight; [`Region::new`] refuses any other number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Region(u8);

/// What a region holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RegionKind {
    /// Activations shared by every program and instance (`shared_gmem`); old mlir-tpu models
    /// keep their private activations here too (`neuron_size`).
    Shared,
    /// The weight section, shared by clones.
    Weight,
    /// One instance's private activations (`private_gmem`).
    Private,
    /// One network input or output buffer each.
    Io,
}

/// Bits of a tagged address below the region number: the offset inside the region.
pub const TAG_SHIFT: u32 = 40;
/// The offset part of a tagged address.
pub const OFFSET_MASK: u64 = (1 << TAG_SHIFT) - 1;

impl Region {
    /// Base registers, and so regions.
    pub const COUNT: usize = 8;
    pub const SHARED: Region = Region(0);
    pub const WEIGHT: Region = Region(1);
    pub const PRIVATE: Region = Region(2);
    /// The first of the IO regions; every region after it is one too.
    pub const IO_FIRST: Region = Region(3);
    pub const IO_LAST: Region = Region(Region::COUNT as u8 - 1);
    pub const ALL: [Region; Region::COUNT] =
        [Region(0), Region(1), Region(2), Region(3), Region(4), Region(5), Region(6), Region(7)];

    /// The region of a number, if it is one (0..=7).
    pub const fn new(number: u8) -> Option<Region> {
        if (number as usize) < Region::COUNT {
            Some(Region(number))
        } else {
            None
        }
    }

    /// The region a descriptor's base-register select field picks (the field's low three bits).
    pub const fn of_base_reg(sel: u32) -> Region {
        Region((sel as usize % Region::COUNT) as u8)
    }

    /// The `i`-th IO region, if there are that many.
    pub const fn io(i: usize) -> Option<Region> {
        if i < Region::IO_COUNT {
            Some(Region(Region::IO_FIRST.0 + i as u8))
        } else {
            None
        }
    }

    /// How many IO regions there are.
    pub const IO_COUNT: usize = Region::COUNT - Region::IO_FIRST.0 as usize;

    pub const fn number(self) -> u8 {
        self.0
    }

    /// Position in [`Region::ALL`] (= the base register's index).
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    pub const fn kind(self) -> RegionKind {
        match self.0 {
            0 => RegionKind::Shared,
            1 => RegionKind::Weight,
            2 => RegionKind::Private,
            _ => RegionKind::Io,
        }
    }

    pub const fn is_io(self) -> bool {
        matches!(self.kind(), RegionKind::Io)
    }

    /// tpu-mlir's name: `shared`, `weight`, `private`, `io3` … `io7`.
    pub const fn name(self) -> &'static str {
        match self.0 {
            0 => "shared",
            1 => "weight",
            2 => "private",
            3 => "io3",
            4 => "io4",
            5 => "io5",
            6 => "io6",
            _ => "io7",
        }
    }

    /// The region of a name [`Region::name`] gives.
    pub fn from_name(name: &str) -> Option<Region> {
        Region::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The tagged address of `offset` in this region, if the offset fits its 40 bits.
    pub const fn tag(self, offset: u64) -> Option<u64> {
        if offset > OFFSET_MASK {
            None
        } else {
            Some((self.0 as u64) << TAG_SHIFT | offset)
        }
    }

    /// The region and offset of a tagged address, if no bit above the region's three is set.
    pub const fn untag(raw: u64) -> Option<(Region, u64)> {
        if raw >> TAG_SHIFT >= Region::COUNT as u64 {
            None
        } else {
            Some((Region((raw >> TAG_SHIFT) as u8), raw & OFFSET_MASK))
        }
    }
}

/// The number, as messages and reports give it.
impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_names_and_tags_agree() {
        for (i, r) in Region::ALL.into_iter().enumerate() {
            assert_eq!((r.index(), Region::new(i as u8), Region::of_base_reg(i as u32 + 8)), (i, Some(r), r));
            assert_eq!(Region::from_name(r.name()), Some(r));
            assert_eq!(Region::untag(r.tag(0x12_3456_789a).unwrap()), Some((r, 0x12_3456_789a)));
        }
        assert_eq!(Region::new(8), None);
        assert_eq!(Region::untag(8 << TAG_SHIFT), None);
        assert_eq!(Region::SHARED.tag(OFFSET_MASK + 1), None);
        let io: Vec<Region> = (0..Region::IO_COUNT).map(|i| Region::io(i).unwrap()).collect();
        assert_eq!(io, Region::ALL.into_iter().filter(|r| r.is_io()).collect::<Vec<_>>());
        assert_eq!(
            (io[0], *io.last().unwrap(), Region::io(Region::IO_COUNT)),
            (Region::IO_FIRST, Region::IO_LAST, None)
        );
    }
}
