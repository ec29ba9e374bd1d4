"""Diffusion maths kept apart from any network: noise schedules, prediction targets, samplers.

`schedule.NoiseSchedule` holds beta/alpha-bar and converts between what a network predicts
(eps or v) and the clean image; `samplers` has schedulers with a common `set_timesteps(n)` /
`step(...)` contract and the single loop (`denoise`) that joins any network to any scheduler.
"""
