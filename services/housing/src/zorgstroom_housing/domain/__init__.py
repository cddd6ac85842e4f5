"""Housing's domain: which ready client an offered unit goes to, within quotas and wijk caps. No I/O."""
