//! Tiered lookup engine: L1 in-process (moka) → L2 Redis (single or Cluster) → L3 origin.
