//! Run-time choice of the instruction set the kernels are compiled for.
//!
//! Every kernel is written once, generic over [`pulp::Simd`], and instantiated for
//! each instruction set pulp supports; [`Isa::best`] picks the widest this CPU runs.

use pulp::Arch;

/// An instruction set the SIMD kernels can run with on this machine.
///
/// Results are bit-identical for any thread count on one instruction set; on
/// another they differ in the last bits (vectors of another width add a dot
/// product's terms in another order).
#[derive(Debug, Clone, Copy)]
pub struct Isa {
    arch: Arch,
}

impl Isa {
    /// The widest instruction set this CPU supports (AVX-512 where present).
    pub fn best() -> Self {
        Self { arch: Arch::new() }
    }

    /// Plain scalar code, one lane: available everywhere.
    pub fn scalar() -> Self {
        Self { arch: Arch::Scalar }
    }

    /// Every instruction set this CPU runs, widest first, scalar last.
    pub fn available() -> Vec<Self> {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        let wide = [
            pulp::x86::V4::try_new().map(Arch::V4),
            pulp::x86::V3::try_new().map(Arch::V3),
        ];
        #[cfg(target_arch = "aarch64")]
        let wide = [pulp::aarch64::Neon::try_new().map(Arch::Neon)];
        #[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
        let wide: [Option<Arch>; 0] = [];
        wide.into_iter()
            .flatten()
            .map(|arch| Self { arch })
            .chain([Self::scalar()])
            .collect()
    }

    /// The instruction set of this machine named `name` ([`Isa::name`]), or
    /// the names of those it runs.
    pub fn named(name: &str) -> Result<Self, Vec<&'static str>> {
        let available = Self::available();
        match available.iter().find(|isa| isa.name() == name) {
            Some(&isa) => Ok(isa),
            None => Err(available.iter().map(Isa::name).collect()),
        }
    }

    /// The instruction set's name: `avx512`, `avx2`, `neon` or `scalar`.
    pub fn name(&self) -> &'static str {
        match self.arch {
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            Arch::V4(_) => "avx512",
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            Arch::V3(_) => "avx2",
            #[cfg(target_arch = "aarch64")]
            Arch::Neon(_) => "neon",
            _ => "scalar",
        }
    }

    /// f32 lanes per vector register.
    pub fn lanes(&self) -> usize {
        self.registers_and_lanes().1
    }

    /// Vector registers of the instruction set (16 or 32).
    pub fn registers(&self) -> usize {
        self.registers_and_lanes().0
    }

    fn registers_and_lanes(&self) -> (usize, usize) {
        struct Shape;
        impl pulp::WithSimd for Shape {
            type Output = (usize, usize);
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _: S) -> (usize, usize) {
                (S::REGISTER_COUNT, S::F32_LANES)
            }
        }
        self.arch.dispatch(Shape)
    }

    /// Runs `op` compiled for this instruction set.
    pub(crate) fn dispatch<Op: pulp::WithSimd>(&self, op: Op) -> Op::Output {
        self.arch.dispatch(op)
    }
}

/// Two instruction sets are equal when they are the same set.
impl PartialEq for Isa {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}
