//! The arithmetic an optimizer's update rule is written in, once for one
//! f32 and for one vector of an instruction set ([`Arith`]), so that the
//! scalar and the vectorised update compute the same bits.

/// The arithmetic an update rule needs, on one f32 or on one vector of them
/// (each operation rounded once, no fused multiply-add, so both agree).
pub(super) trait Arith: Copy {
    /// `v` in every lane.
    fn splat(self, v: f32) -> Self;
    fn add(self, other: Self) -> Self;
    fn sub(self, other: Self) -> Self;
    fn mul(self, other: Self) -> Self;
    fn div(self, other: Self) -> Self;
    fn sqrt(self) -> Self;
}

impl Arith for f32 {
    fn splat(self, v: f32) -> f32 {
        v
    }
    fn add(self, other: f32) -> f32 {
        self + other
    }
    fn sub(self, other: f32) -> f32 {
        self - other
    }
    fn mul(self, other: f32) -> f32 {
        self * other
    }
    fn div(self, other: f32) -> f32 {
        self / other
    }
    fn sqrt(self) -> f32 {
        f32::sqrt(self)
    }
}

/// A vector of one instruction set, with the token to compute on it.
#[derive(Clone, Copy)]
pub(super) struct Lanes<S: pulp::Simd>(pub S, pub S::f32s);

impl<S: pulp::Simd> Arith for Lanes<S> {
    #[inline(always)]
    fn splat(self, v: f32) -> Self {
        Lanes(self.0, self.0.splat_f32s(v))
    }
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        Lanes(self.0, self.0.add_f32s(self.1, other.1))
    }
    #[inline(always)]
    fn sub(self, other: Self) -> Self {
        Lanes(self.0, self.0.sub_f32s(self.1, other.1))
    }
    #[inline(always)]
    fn mul(self, other: Self) -> Self {
        Lanes(self.0, self.0.mul_f32s(self.1, other.1))
    }
    #[inline(always)]
    fn div(self, other: Self) -> Self {
        Lanes(self.0, self.0.div_f32s(self.1, other.1))
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        Lanes(self.0, self.0.sqrt_f32s(self.1))
    }
}
