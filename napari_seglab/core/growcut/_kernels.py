"""Compiled kernels of grow from seeds (numba).

Voxels are flat indices into a padded crop whose border layer is blocked,
so neighbours never leave the array. A voxel's state is one int64 key =
``cost << shift | root``: comparing keys compares costs, then root (seed)
indices. Key 0 marks a blocked voxel, ``INF`` an unreached one.
"""

from __future__ import annotations

import numpy as np
from numba import njit

INF = np.int64(np.iinfo(np.int64).max)
NOT_QUEUED = -2


def _jit(function):
    """``njit(cache=True, nogil=True)``; without a writable cache, compile per process."""
    try:
        return njit(cache=True, nogil=True)(function)
    except RuntimeError:  # numba found no writable cache directory
        return njit(nogil=True)(function)


@_jit
def _grow(q, key, prv, nxt, pend, pcost, offsets, steps, shift, bucket_mask, cap):
    """Dijkstra with a circular bucket queue (Dial) from the pending voxels.

    ``pend`` are voxels whose key was set before the call, sorted by cost
    (``pcost``); each enters the queue when the sweep reaches its cost.
    Returns the number of voxels expanded.
    """
    n_buckets = bucket_mask + 1
    heads = np.full(n_buckets, -1, np.int32)
    root_mask = (np.int64(1) << shift) - 1
    n_pend = pend.shape[0]
    n_off = offsets.shape[0]
    if n_pend == 0:
        return 0
    pi = 0
    count = 0
    expanded = 0
    cur = pcost[0]
    while True:
        while pi < n_pend and pcost[pi] <= cur:
            v = pend[pi]
            if (key[v] >> shift) == pcost[pi] and prv[v] == NOT_QUEUED:
                b = cur & bucket_mask
                h = heads[b]
                nxt[v] = h
                prv[v] = -1
                if h != -1:
                    prv[h] = v
                heads[b] = v
                count += 1
            pi += 1
        b = cur & bucket_mask
        v = heads[b]
        if v == -1:
            if count == 0:
                if pi >= n_pend:
                    break
                cur = pcost[pi]
            else:
                cur += 1
            continue
        nv = nxt[v]
        heads[b] = nv
        if nv != -1:
            prv[nv] = -1
        prv[v] = NOT_QUEUED
        count -= 1
        expanded += 1
        kv = key[v]
        dv = kv >> shift
        rv = kv & root_mask
        reject = (dv + 1) << shift  # any key below cannot be improved
        qv = np.int64(q[v])
        for i in range(n_off):
            u = v + offsets[i]
            ku = key[u]
            if ku < reject:
                continue
            qu = np.int64(q[u])
            nd = dv + (qv - qu if qv > qu else qu - qv) + steps[i]
            if nd > cap:
                continue
            nk = (nd << shift) | rv
            if nk >= ku:
                continue
            du = ku >> shift
            if prv[u] != NOT_QUEUED:
                if du == nd:  # same bucket: a better root only
                    key[u] = nk
                    continue
                p = prv[u]
                n = nxt[u]
                if p == -1:
                    heads[du & bucket_mask] = n
                else:
                    nxt[p] = n
                if n != -1:
                    prv[n] = p
                count -= 1
            key[u] = nk
            b2 = nd & bucket_mask
            h = heads[b2]
            nxt[u] = h
            prv[u] = -1
            if h != -1:
                prv[h] = u
            heads[b2] = u
            count += 1
    return expanded


@_jit
def _apply_seed_changes(q, key, prv, nxt, old_seeds, new_seeds, offsets, steps, shift, cap):
    """Turn the grown state for ``old_seeds`` into a start state for ``new_seeds``.

    Voxels owned by a removed seed are reset; each gets the best key offered
    by its valid neighbours (the frontier). New seeds get cost 0. Returns the
    pending voxels sorted by cost, their costs, and the counts of invalidated
    voxels and new seeds. A relabelled seed changes nothing here: labels are
    read from the root seed when the result is written.
    """
    n = key.shape[0]
    root_mask = (np.int64(1) << shift) - 1
    n_inv = 0
    n_new = 0
    for v in range(n):
        kv = key[v]
        if kv == 0:  # blocked
            continue
        if new_seeds[v] != 0 and old_seeds[v] == 0:
            key[v] = v
            prv[n_new] = v  # prv is free scratch until the queue starts
            n_new += 1
            continue
        if kv == INF:
            continue
        if new_seeds[kv & root_mask] == 0:
            key[v] = INF
            nxt[n_inv] = v
            n_inv += 1
    best = np.empty(n_inv, np.int64)
    n_front = 0
    for j in range(n_inv):
        v = nxt[j]
        qv = np.int64(q[v])
        bk = INF
        for i in range(offsets.shape[0]):
            u = v + offsets[i]
            ku = key[u]
            if ku == 0 or ku == INF:
                continue
            qu = np.int64(q[u])
            nd = (ku >> shift) + (qv - qu if qv > qu else qu - qv) + steps[i]
            if nd > cap:
                continue
            nk = (nd << shift) | (ku & root_mask)
            if nk < bk:
                bk = nk
        best[j] = bk
        if bk != INF:
            n_front += 1
    pend = np.empty(n_new + n_front, np.int64)
    pcost = np.empty(n_new + n_front, np.int64)
    for j in range(n_new):
        pend[j] = prv[j]
        pcost[j] = 0
        prv[j] = NOT_QUEUED
    k = n_new
    for j in range(n_inv):
        if best[j] != INF:
            v = nxt[j]
            key[v] = best[j]
            pend[k] = v
            pcost[k] = best[j] >> shift
            k += 1
    order = np.argsort(pcost[n_new:], kind="mergesort")
    pend[n_new:] = pend[n_new:][order]
    pcost[n_new:] = pcost[n_new:][order]
    return pend, pcost, n_inv, n_new


@_jit
def _crop_labels(key, seeds, out, pad_z, shift):
    """Write each voxel's root seed label into ``out`` (the unpadded crop)."""
    nz, ny, nx = out.shape
    py = ny + 2
    px = nx + 2
    root_mask = (np.int64(1) << shift) - 1
    for z in range(nz):
        for y in range(ny):
            base = ((z + pad_z) * py + y + 1) * px + 1
            for x in range(nx):
                k = key[base + x]
                if k == 0 or k == INF:
                    out[z, y, x] = 0
                else:
                    out[z, y, x] = seeds[k & root_mask]


@_jit
def _max_cost(key, shift):
    """The largest cost of a reached voxel (0 if none)."""
    best = np.int64(0)
    for v in range(key.shape[0]):
        k = key[v]
        if k != 0 and k != INF and (k >> shift) > best:
            best = k >> shift
    return best


@_jit
def _move_state(old_key, old_seeds, new_key, new_seeds, old_pad, old_pad_z, new_pad,
                new_pad_z, at, old_shape, grew_lo, grew_hi, old_shift, new_shift):
    """Copy keys and seeds of a padded crop into a larger padded crop.

    ``at`` is where the old crop starts inside the new one; roots are
    re-indexed (C order is kept, so the tie rule is too). Returns the new
    indices of the reached voxels on the old crop's faces that grew: the
    only voxels with edges that are not relaxed yet.
    """
    oz, oy, ox = old_shape[0], old_shape[1], old_shape[2]
    opy, opx = old_pad[1], old_pad[2]
    npy, npx = new_pad[1], new_pad[2]
    old_mask = (np.int64(1) << old_shift) - 1
    n_face = oz * oy * ox - max(oz - 2, 0) * max(oy - 2, 0) * max(ox - 2, 0)
    boundary = np.empty(n_face, np.int64)
    n_b = 0
    for z in range(oz):
        for y in range(oy):
            o = ((z + old_pad_z) * opy + y + 1) * opx + 1
            n = ((z + at[0] + new_pad_z) * npy + y + at[1] + 1) * npx + at[2] + 1
            for x in range(ox):
                new_seeds[n + x] = old_seeds[o + x]
                k = old_key[o + x]
                if k == 0 or k == INF:
                    new_key[n + x] = k
                    continue
                r = k & old_mask
                rz = r // (opy * opx) - old_pad_z
                ry = (r // opx) % opy - 1
                rx = r % opx - 1
                root = ((rz + at[0] + new_pad_z) * npy + ry + at[1] + 1) * npx + rx + at[2] + 1
                new_key[n + x] = ((k >> old_shift) << new_shift) | root
                if ((grew_lo[0] and z == 0) or (grew_hi[0] and z == oz - 1)
                        or (grew_lo[1] and y == 0) or (grew_hi[1] and y == oy - 1)
                        or (grew_lo[2] and x == 0) or (grew_hi[2] and x == ox - 1)):
                    boundary[n_b] = n + x
                    n_b += 1
    return boundary[:n_b]
