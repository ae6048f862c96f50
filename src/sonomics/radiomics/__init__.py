"""radiomics"""
