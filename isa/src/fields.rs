//! The macro that declares a descriptor's typed form once: a struct with one `u32` per field (the
//! union over all chips' layouts) and a matching field-id enum.

macro_rules! descriptor_fields {
    ($(#[$sm:meta])* struct $name:ident; $(#[$em:meta])* enum $fid:ident { $($f:ident),* $(,)? }) => {
        $(#[$em])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types)]
        pub enum $fid { $($f),* }

        $(#[$sm])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
        pub struct $name { $(pub $f: u32),* }

        impl $name {
            /// The raw value of one field.
            #[inline]
            pub fn get(&self, f: $fid) -> u32 {
                match f { $($fid::$f => self.$f),* }
            }
            #[inline]
            pub fn set(&mut self, f: $fid, v: u32) {
                match f { $($fid::$f => self.$f = v),* }
            }
        }

        impl $fid {
            pub const ALL: &'static [$fid] = &[$($fid::$f),*];
            pub const fn name(self) -> &'static str {
                match self { $($fid::$f => stringify!($f)),* }
            }
        }
    };
}

pub(crate) use descriptor_fields;
