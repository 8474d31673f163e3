//! Just enough of the ONNX protobuf to read a model's nodes and float initializers, for tests
//! that check quantisation arithmetic against vendor-compiled models without the importer.

#![allow(dead_code)]

use std::collections::HashMap;

pub struct Node {
    pub op_type: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub float_attrs: HashMap<String, f32>,
}

pub struct Model {
    pub nodes: Vec<Node>,
    /// Float initializers by name, with their dims.
    pub init: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

struct Reader<'a> {
    b: &'a [u8],
    p: usize,
}

enum Field<'a> {
    Varint(u64),
    Fixed32(u32),
    Fixed64(u64),
    Bytes(&'a [u8]),
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Self {
        Reader { b, p: 0 }
    }
    fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        let mut s = 0;
        loop {
            let byte = self.b[self.p];
            self.p += 1;
            v |= ((byte & 0x7f) as u64) << s;
            if byte & 0x80 == 0 {
                return v;
            }
            s += 7;
        }
    }
    fn next(&mut self) -> Option<(u64, Field<'a>)> {
        if self.p >= self.b.len() {
            return None;
        }
        let key = self.varint();
        let f = match key & 7 {
            0 => Field::Varint(self.varint()),
            1 => {
                let v = u64::from_le_bytes(self.b[self.p..self.p + 8].try_into().unwrap());
                self.p += 8;
                Field::Fixed64(v)
            }
            2 => {
                let n = self.varint() as usize;
                let s = &self.b[self.p..self.p + n];
                self.p += n;
                Field::Bytes(s)
            }
            5 => {
                let v = u32::from_le_bytes(self.b[self.p..self.p + 4].try_into().unwrap());
                self.p += 4;
                Field::Fixed32(v)
            }
            w => panic!("unsupported protobuf wire type {w}"),
        };
        Some((key >> 3, f))
    }
}

fn string(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn node(b: &[u8]) -> Node {
    let mut n = Node { op_type: String::new(), inputs: vec![], outputs: vec![], float_attrs: HashMap::new() };
    let mut r = Reader::new(b);
    while let Some((tag, f)) = r.next() {
        match (tag, f) {
            (1, Field::Bytes(s)) => n.inputs.push(string(s)),
            (2, Field::Bytes(s)) => n.outputs.push(string(s)),
            (4, Field::Bytes(s)) => n.op_type = string(s),
            (5, Field::Bytes(s)) => {
                let mut a = Reader::new(s);
                let (mut name, mut val) = (String::new(), None);
                while let Some((t, f)) = a.next() {
                    match (t, f) {
                        (1, Field::Bytes(s)) => name = string(s),
                        (2, Field::Fixed32(v)) => val = Some(f32::from_bits(v)),
                        _ => {}
                    }
                }
                if let Some(v) = val {
                    n.float_attrs.insert(name, v);
                }
            }
            _ => {}
        }
    }
    n
}

fn tensor(b: &[u8]) -> Option<(String, Vec<usize>, Vec<f32>)> {
    let mut r = Reader::new(b);
    let (mut name, mut dims, mut dtype, mut data) = (String::new(), vec![], 0, vec![]);
    while let Some((tag, f)) = r.next() {
        match (tag, f) {
            (1, Field::Varint(v)) => dims.push(v as usize),
            (1, Field::Bytes(s)) => {
                let mut p = Reader::new(s);
                while p.p < s.len() {
                    dims.push(p.varint() as usize);
                }
            }
            (2, Field::Varint(v)) => dtype = v,
            (4, Field::Bytes(s)) => data.extend(s.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()))),
            (4, Field::Fixed32(v)) => data.push(f32::from_bits(v)),
            (8, Field::Bytes(s)) => name = string(s),
            (9, Field::Bytes(s)) => {
                data = s.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
            }
            _ => {}
        }
    }
    (dtype == 1).then_some((name, dims, data))
}

pub fn load(path: &str) -> Model {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut r = Reader::new(&bytes);
    let mut model = Model { nodes: vec![], init: HashMap::new() };
    while let Some((tag, f)) = r.next() {
        if let (7, Field::Bytes(g)) = (tag, f) {
            let mut gr = Reader::new(g);
            while let Some((t, f)) = gr.next() {
                match (t, f) {
                    (1, Field::Bytes(s)) => model.nodes.push(node(s)),
                    (5, Field::Bytes(s)) => {
                        if let Some((name, dims, data)) = tensor(s) {
                            model.init.insert(name, (dims, data));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    model
}
