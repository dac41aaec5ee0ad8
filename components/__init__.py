"""Pulumi components: one per concept of the layout. They never read stack config."""
