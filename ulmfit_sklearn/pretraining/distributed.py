"""Data-parallel pretraining over ``torch.distributed`` processes (``torchrun``)."""

import os

from skorch.callbacks import Callback


class AllReduceGradients(Callback):
    """Data-parallel training over ``torch.distributed`` processes (e.g. ``torchrun``).

    Each process reads its own slice of the corpus; this callback starts every
    process from rank 0's weights and averages the gradients after each backward
    pass, before the optimizer steps, so all processes keep identical weights.
    """

    def on_train_begin(self, net, **kwargs):
        import torch.distributed as dist

        for p in net.module_.parameters():
            dist.broadcast(p.data, src=0)

    def on_grad_computed(self, net, named_parameters, **kwargs):
        import torch.distributed as dist

        world = dist.get_world_size()
        for _, p in named_parameters:
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= world


def distributed_context(device):
    """(rank, world size), joining the process group that torchrun describes."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if str(device).startswith("cuda") else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)
