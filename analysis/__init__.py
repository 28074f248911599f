"""The theory side: MDPs, spectra (EBFs, RSBFs, principal angles), closed forms, symbolic
derivations and hypothesis strategies. Depends on nothing else of ours."""
