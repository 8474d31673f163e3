//! The arguments of a CPU routine: a nested `cvi.cpu_op.Parameter` flatbuffer (spec runtime.md §1.3).

use crate::generated::cpu_op;
use serde::Serialize;

/// One typed attribute value.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum AttrValue {
    Int(i32),
    Float(f32),
    Bool(bool),
    Str(String),
    IntArray(Vec<i32>),
    FloatArray(Vec<f32>),
}

impl std::fmt::Display for AttrValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttrValue::Int(v) => write!(f, "{v}"),
            AttrValue::Float(v) => write!(f, "{v}"),
            AttrValue::Bool(v) => write!(f, "{v}"),
            AttrValue::Str(v) => write!(f, "{v:?}"),
            AttrValue::IntArray(v) => write!(f, "{v:?}"),
            AttrValue::FloatArray(v) => write!(f, "{v:?}"),
        }
    }
}

/// A key and its value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CpuAttr {
    pub key: String,
    #[serde(flatten)]
    pub value: AttrValue,
}

/// Decode `function_args`. The runtime takes the first sub-table present in the order int, float,
/// bool, str, int_array, float_array (not the schema order), so we do too. A scalar equal to its
/// default is absent from the buffer; the generated accessors supply the default (0, 0.0, false).
pub fn decode(bytes: &[u8]) -> Result<Vec<CpuAttr>, String> {
    let param = cpu_op::root_as_parameter(bytes).map_err(|e| format!("not a valid cvi.cpu_op.Parameter flatbuffer: {e}"))?;
    let Some(attrs) = param.attributes() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(attrs.len());
    for (i, a) in attrs.iter().enumerate() {
        let missing_key = || format!("attribute #{i} has no key");
        let (key, value) = if let Some(t) = a.int_attr() {
            (t.key(), AttrValue::Int(t.value()))
        } else if let Some(t) = a.float_attr() {
            (t.key(), AttrValue::Float(t.value()))
        } else if let Some(t) = a.bool_attr() {
            (t.key(), AttrValue::Bool(t.value()))
        } else if let Some(t) = a.str_attr() {
            // The runtime dereferences the value unconditionally: absent is a broken file.
            let v = t.value().ok_or_else(|| format!("string attribute {:?} has no value", t.key().unwrap_or("")))?;
            (t.key(), AttrValue::Str(v.to_owned()))
        } else if let Some(t) = a.int_array_attr() {
            let v = t.value().ok_or_else(|| format!("int array attribute {:?} has no value", t.key().unwrap_or("")))?;
            (t.key(), AttrValue::IntArray(v.iter().collect()))
        } else if let Some(t) = a.float_array_attr() {
            let v = t.value().ok_or_else(|| format!("float array attribute {:?} has no value", t.key().unwrap_or("")))?;
            (t.key(), AttrValue::FloatArray(v.iter().collect()))
        } else {
            return Err(format!("attribute #{i} sets none of its six fields (the runtime aborts on this)"));
        };
        out.push(CpuAttr { key: key.ok_or_else(missing_key)?.to_owned(), value });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flatbuffers::FlatBufferBuilder;

    /// Build a Parameter with a FloatAttr whose value is the default (so it is left out), an
    /// IntAttr, a StrAttr and an Attribute carrying both int and float (int must win).
    fn sample() -> Vec<u8> {
        let mut b = FlatBufferBuilder::new();
        let k = b.create_string("pad_beg");
        let ia = cpu_op::IntAttr::create(&mut b, &cpu_op::IntAttrArgs { key: Some(k), value: 0 });
        let a0 = cpu_op::Attribute::create(&mut b, &cpu_op::AttributeArgs { int_attr: Some(ia), ..Default::default() });
        let k = b.create_string("scale");
        let fa = cpu_op::FloatAttr::create(&mut b, &cpu_op::FloatAttrArgs { key: Some(k), value: 48.5 });
        let a1 = cpu_op::Attribute::create(&mut b, &cpu_op::AttributeArgs { float_attr: Some(fa), ..Default::default() });
        let k = b.create_string("to");
        let v = b.create_string("INT8");
        let sa = cpu_op::StrAttr::create(&mut b, &cpu_op::StrAttrArgs { key: Some(k), value: Some(v) });
        let a2 = cpu_op::Attribute::create(&mut b, &cpu_op::AttributeArgs { str_attr: Some(sa), ..Default::default() });
        let k1 = b.create_string("both_f");
        let fa = cpu_op::FloatAttr::create(&mut b, &cpu_op::FloatAttrArgs { key: Some(k1), value: 1.0 });
        let k2 = b.create_string("both_i");
        let ia = cpu_op::IntAttr::create(&mut b, &cpu_op::IntAttrArgs { key: Some(k2), value: 7 });
        let a3 = cpu_op::Attribute::create(
            &mut b,
            &cpu_op::AttributeArgs { float_attr: Some(fa), int_attr: Some(ia), ..Default::default() },
        );
        let v = b.create_vector(&[a0, a1, a2, a3]);
        let p = cpu_op::Parameter::create(&mut b, &cpu_op::ParameterArgs { attributes: Some(v) });
        b.finish(p, None);
        b.finished_data().to_vec()
    }

    #[test]
    fn decodes_typed_attributes_with_defaults_and_runtime_priority() {
        let attrs = decode(&sample()).unwrap();
        let got: Vec<(&str, &AttrValue)> = attrs.iter().map(|a| (a.key.as_str(), &a.value)).collect();
        assert_eq!(
            got,
            vec![
                ("pad_beg", &AttrValue::Int(0)),
                ("scale", &AttrValue::Float(48.5)),
                ("to", &AttrValue::Str("INT8".into())),
                ("both_i", &AttrValue::Int(7)),
            ]
        );
    }

    #[test]
    fn empty_attribute_and_garbage_are_errors() {
        let mut b = FlatBufferBuilder::new();
        let a = cpu_op::Attribute::create(&mut b, &cpu_op::AttributeArgs::default());
        let v = b.create_vector(&[a]);
        let p = cpu_op::Parameter::create(&mut b, &cpu_op::ParameterArgs { attributes: Some(v) });
        b.finish(p, None);
        assert!(decode(b.finished_data()).unwrap_err().contains("none of its six"));
        assert!(decode(&[1, 2, 3]).is_err());
        assert!(decode(&[0xff; 64]).is_err());
    }
}
