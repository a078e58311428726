"""Link layer: split a byte stream into checked frames and put segmented APDUs together."""
