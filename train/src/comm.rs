//! Communication between data-parallel ranks: a single process, or MPI ranks started by
//! `mpirun -np N` (feature `mpi`). Everything goes through flat host buffers.

pub trait Comm {
    fn rank(&self) -> usize;
    fn size(&self) -> usize;
    /// Element-wise sum over ranks, in place.
    fn allreduce_f32(&self, buf: &mut [f32]);
    fn allreduce_f64(&self, buf: &mut [f64]);
    /// Overwrites `buf` on every rank with rank 0's.
    fn broadcast_f32(&self, buf: &mut [f32]);
    fn barrier(&self);
}

/// One process, no communication.
pub struct Single;

impl Comm for Single {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn allreduce_f32(&self, _: &mut [f32]) {}
    fn allreduce_f64(&self, _: &mut [f64]) {}
    fn broadcast_f32(&self, _: &mut [f32]) {}
    fn barrier(&self) {}
}

#[cfg(feature = "mpi")]
pub use mpi_comm::MpiComm;

#[cfg(feature = "mpi")]
mod mpi_comm {
    use super::Comm;
    use mpi::collective::SystemOperation;
    use mpi::topology::{Communicator, SimpleCommunicator};
    use mpi::traits::*;

    pub struct MpiComm {
        _universe: mpi::environment::Universe,
        world: SimpleCommunicator,
    }

    impl MpiComm {
        /// Initialises MPI (also fine without mpirun: a world of one).
        pub fn init() -> Option<Self> {
            let universe = mpi::initialize()?;
            let world = universe.world();
            Some(MpiComm {
                _universe: universe,
                world,
            })
        }
    }

    impl Comm for MpiComm {
        fn rank(&self) -> usize {
            self.world.rank() as usize
        }
        fn size(&self) -> usize {
            self.world.size() as usize
        }
        fn allreduce_f32(&self, buf: &mut [f32]) {
            let send = buf.to_vec();
            self.world
                .all_reduce_into(&send[..], buf, SystemOperation::sum());
        }
        fn allreduce_f64(&self, buf: &mut [f64]) {
            let send = buf.to_vec();
            self.world
                .all_reduce_into(&send[..], buf, SystemOperation::sum());
        }
        fn broadcast_f32(&self, buf: &mut [f32]) {
            self.world.process_at_rank(0).broadcast_into(buf);
        }
        fn barrier(&self) {
            self.world.barrier();
        }
    }
}

/// MPI when built with it and started under mpirun (or alone), else a single process.
pub fn init() -> Box<dyn Comm> {
    #[cfg(feature = "mpi")]
    {
        let under_mpirun = std::env::var_os("OMPI_COMM_WORLD_SIZE").is_some()
            || std::env::var_os("PMI_SIZE").is_some();
        if under_mpirun {
            if let Some(c) = MpiComm::init() {
                return Box::new(c);
            }
        }
    }
    Box::new(Single)
}
