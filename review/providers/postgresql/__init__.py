"""The postgresql:* resources of cyrilgdn/terraform-provider-postgresql at ff936b9, one module per resource
family as the provider's `postgresql/` folder has them: `roles`, `grants`, `databases`, `replication`, `fdw`,
each with its `KNOWN_INPUTS` and `LIFECYCLES`, on the pieces they share (`helpers`, after `helpers.go`)."""
