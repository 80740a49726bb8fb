//! Hostile component shapes: a real skill component with extra core
//! instances appended, each with its own linear memory that its start
//! function grows (what a hand-made component can do that no SDK does).

use wasm_encoder::{
    Component, Function, FunctionSection, InstanceSection, Instruction, MemorySection, MemoryType,
    Module, ModuleArg, ModuleSection, StartSection, TypeSection,
};

/// Top-level core modules already in `component` (each is one section).
fn core_modules(component: &[u8]) -> u32 {
    let mut i = 8;
    let mut n = 0;
    while i < component.len() {
        let id = component[i];
        i += 1;
        let (mut size, mut shift) = (0usize, 0);
        loop {
            let b = component[i];
            i += 1;
            size |= usize::from(b & 0x7f) << shift;
            shift += 7;
            if b < 0x80 {
                break;
            }
        }
        if id == 1 {
            n += 1;
        }
        i += size;
    }
    n
}

/// A core module with one memory that grows by `pages` (64 KiB each) when
/// instantiated, trapping if the host refuses.
fn hog(pages: u32) -> Module {
    let mut m = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], []);
    m.section(&types);
    let mut funcs = FunctionSection::new();
    funcs.function(0);
    m.section(&funcs);
    let mut mems = MemorySection::new();
    mems.memory(MemoryType {
        minimum: 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    m.section(&mems);
    m.section(&StartSection { function_index: 0 });
    let mut code = wasm_encoder::CodeSection::new();
    let mut f = Function::new([]);
    f.instruction(&Instruction::I32Const(pages as i32))
        .instruction(&Instruction::MemoryGrow(0))
        .instruction(&Instruction::I32Const(-1))
        .instruction(&Instruction::I32Eq)
        .instruction(&Instruction::If(wasm_encoder::BlockType::Empty))
        .instruction(&Instruction::Unreachable)
        .instruction(&Instruction::End)
        .instruction(&Instruction::End);
    code.function(&f);
    m.section(&code);
    m
}

/// `component` plus `count` extra core instances, each growing its own
/// memory by `pages` at instantiation.
pub fn with_memory_hogs(component: &[u8], count: usize, pages: u32) -> Vec<u8> {
    let module_index = core_modules(component);
    let mut extra = Component::new();
    extra.section(&ModuleSection(&hog(pages)));
    let mut instances = InstanceSection::new();
    for _ in 0..count {
        instances.instantiate(module_index, Vec::<(&str, ModuleArg)>::new());
    }
    extra.section(&instances);
    let extra = extra.finish();
    let mut out = component.to_vec();
    out.extend_from_slice(&extra[8..]);
    out
}
