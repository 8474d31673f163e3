//! A loaded model: the parsed file and its command streams, shared by every instance.

use super::RuntimeError;
use crate::cvimodel::Model;
use cvsim_isa::CommandStream;
use std::collections::HashMap;
use std::sync::Arc;

/// A model ready to run: the parsed file and its command buffers, shared by clones.
pub struct LoadedModel {
    pub model: Model,
    /// Command stream per TPU section name, kept encoded (in the file's bytes when the section is
    /// stored uncompressed) and decoded descriptor by descriptor as it runs.
    pub cmdbufs: HashMap<String, Arc<CommandStream>>,
}

impl LoadedModel {
    pub fn new(model: Model) -> Result<Arc<LoadedModel>, RuntimeError> {
        let mut cmdbufs = HashMap::new();
        for p in &model.programs {
            for r in &p.routines {
                if let Some(name) = r.tpu_section() {
                    if !cmdbufs.contains_key(name) {
                        let sec =
                            model.section(name).ok_or_else(|| RuntimeError::Device(format!("section `{name}` missing")))?.clone();
                        let cmds = model.cmdbuf_stream(&sec)?;
                        cmdbufs.insert(name.to_string(), Arc::new(cmds));
                    }
                }
            }
        }
        Ok(Arc::new(LoadedModel { model, cmdbufs }))
    }

    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Arc<LoadedModel>, RuntimeError> {
        LoadedModel::new(Model::from_file(path)?)
    }
}
