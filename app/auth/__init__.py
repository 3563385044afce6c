"""Who is calling and what they may do: tokens, bearer verification, keys, secret sealing."""
