"""Batched torch evaluation of a model pair: graphs, forces, dipoles, APTs and Hessians by
autograd."""
