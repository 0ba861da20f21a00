"""Diffusion processes: the discrete DDPM process (schedules, respacing, hybrid loss) and the
continuous EDM family (EDM, VP, VE preconditioning and their loss)."""
