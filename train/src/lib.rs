//! The trainer: a decoder-only GPT in libtorch (through `tch`) fed from sluice's packed Arrow
//! token shards (memory-mapped), with AdamW + warmup/cosine, gradient accumulation and
//! clipping, evaluation with early stopping, sample-exact checkpoints, data-parallel ranks
//! over MPI, and domain mixture weights that follow the per-domain training loss.

pub mod comm;
pub mod config;
pub mod error;
pub mod model;
pub mod optim;
pub mod trainer;

// The torch-free half (shards, mixture, sample plan) lives in `feed`, shared with the
// Python package.
pub use feed::{data, loader, sampler};

pub use config::TrainConfig;
pub use error::TrainError;
pub use trainer::{TrainSummary, Trainer};

use tch::{Device, Kind, Tensor};

/// What the linked libtorch can do on this machine.
#[derive(Debug, Clone, PartialEq)]
pub struct TorchInfo {
    pub cuda_devices: usize,
    pub threads: i32,
    pub device: String,
}

impl TorchInfo {
    pub fn probe() -> Self {
        let device = Device::cuda_if_available();
        TorchInfo {
            cuda_devices: tch::Cuda::device_count() as usize,
            threads: tch::get_num_threads(),
            device: format!("{device:?}"),
        }
    }
}

/// A tiny computation through libtorch (used to check that linking and loading work).
pub fn matmul_trace(n: i64) -> f64 {
    let a = Tensor::eye(n, (Kind::Float, Device::Cpu)) * 2.0;
    let b = Tensor::ones([n, n], (Kind::Float, Device::Cpu));
    (a.matmul(&b)).trace().double_value(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtorch_links_and_computes() {
        assert_eq!(matmul_trace(8), 16.0);
        let info = TorchInfo::probe();
        assert!(info.threads >= 1);
    }
}
