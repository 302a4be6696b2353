"""Bridges to other libraries' conventions, each an optional module that needs its library.

    numpyae.integrations.sklearn   numpyae's autoencoders as scikit-learn transformers
                                   (needs scikit-learn: pip install "numpyae[sklearn]")

Importing this package imports none of them: numpyae itself never needs scikit-learn.
"""
