"""The second `pulumi up`: the steps between a git ref and the working tree (`compute`), the SQL
and reads they run (`sql`, `refresh`), their views (`views`) and the command (`command`). Reads
`capture`, `providers` and `views`."""
