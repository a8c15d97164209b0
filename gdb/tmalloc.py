"""gdb commands that read tmalloc's heap through the debug info.

    tmalloc heap [--slots] [EXPR]   every block in address order
    tmalloc bins [EXPR]             the free lists / size classes and what is in them
    tmalloc vis [EXPR]              a picture of the heap: used, free, headers, top
    tmalloc stats [EXPR]            the allocator's Stats
    tmalloc arenas                  the process-wide heap's arenas, their threads and locks
    tmalloc finish                  run until the current allocator call returns

Which heap: EXPR if given (a `Tmalloc` value or a pointer or reference to
one, in the current language), else the nearest `Tmalloc` variable in the
selected frame or its callers (the experiment's contender is the local
`heap` of `Contender::with_allocator`), else the main arena of the
process-wide heap behind `tmalloc()` / `tfree()`. A number N names arena N
(`tmalloc arenas` lists them).

Structures (the allocator, its policy, regions, lists) are read through the
debug info, by field name. Heap memory is read raw, one region at a time,
with the layout constants the debug binary exports (`TMALLOC_LAYOUT`, from
crates/alloc/src/layout.rs); every header is checked as it is read, so a
corrupted one gives a message, not a traceback. Load with `source
gdb/tmalloc.py` (gdb/tmalloc.gdb does).
"""

import functools
import struct

import gdb

ARENAS = "tmalloc_alloc::global::arena::ARENAS"
ARENA_COUNT = "tmalloc_alloc::global::arena::COUNT"
TMALLOC_TYPE = "tmalloc_alloc::front::Tmalloc<"
ALLOCATOR_FRAMES = ("tmalloc_alloc::", "tmalloc_sys::")
LIST_TYPE = "tmalloc_alloc::list::List<{}>"
RUN_TYPE = "tmalloc_alloc::slab::run::Run"
LARGE_TYPE = "tmalloc_alloc::large::LargeHeader"
BUDDY_FREE_TYPE = "tmalloc_alloc::policy::buddy::BuddyFree"
LAYOUT_SYMBOL = "tmalloc_alloc::layout::TMALLOC_LAYOUT"

# The policy enum's variants (the four fits share one, told apart by their
# rule), by the name `init_tmalloc` takes.
POLICIES = {
    "Segregated": "segregated",
    "Buddy": "buddy",
    "Tlsf": "tlsf",
    "SlabTlsf": "slab-tlsf",
}
FIT_RULES = {"First": "first-fit", "Next": "next-fit", "Best": "best-fit", "Worst": "worst-fit"}


class Layout:
    """The block formats as numbers: the fields of the static TMALLOC_LAYOUT
    that the debug binary exports (crates/alloc/src/layout.rs), read once per
    binary, so that nothing here restates a constant of the Rust code."""

    _cached = None

    @classmethod
    def get(cls):
        if cls._cached is None:
            sym = gdb.lookup_global_symbol(LAYOUT_SYMBOL) or gdb.lookup_static_symbol(LAYOUT_SYMBOL)
            if sym is None:
                raise HeapError("TMALLOC_LAYOUT is not in this binary: load the debug binary, target/debug/tmalloc")
            value = sym.value()
            cls._cached = {f.name: value[f.name] for f in value.type.strip_typedefs().fields()}
        return cls._cached

    @classmethod
    def forget(cls, _event=None):
        cls._cached = None


def L(name):
    """A layout constant as an int (a tuple for arrays)."""
    v = Layout.get()[name]
    if v.type.strip_typedefs().code == gdb.TYPE_CODE_ARRAY:
        n = v.type.strip_typedefs().sizeof // v.type.strip_typedefs().target().sizeof
        return tuple(int(v[i]) for i in range(n))
    return int(v)


# Another binary loaded into this gdb may have another layout.
gdb.events.new_objfile.connect(Layout.forget)


class HeapError(Exception):
    """Something the user should read as one line, not a traceback."""


def u32(buf, off):
    return struct.unpack_from("<I", buf, off)[0]


def u64(buf, off):
    return struct.unpack_from("<Q", buf, off)[0]


def read(addr, length):
    try:
        return bytes(gdb.selected_inferior().read_memory(addr, length))
    except gdb.MemoryError:
        raise HeapError(f"cannot read {length} bytes at {addr:#x}: not mapped in this process")


def read_u64(addr):
    return u64(read(addr, 8), 0)


def field_offset(type_name, field):
    try:
        t = gdb.lookup_type(type_name)
    except gdb.error:
        raise HeapError(f"type {type_name} is not in the debug info: is this the debug binary?")
    for f in t.fields():
        if f.name == field:
            return f.bitpos // 8
    raise HeapError(f"{type_name} has no field `{field}`: gdb/tmalloc.py is older than the code")


def pretty(n):
    return f"{n:,}"


# ---------------------------------------------------------------- locating


def is_tmalloc(t):
    return (t.strip_typedefs().name or "").startswith(TMALLOC_TYPE)


def as_tmalloc(value):
    """The Tmalloc inside `value`, following references and wrappers."""
    for _ in range(8):
        t = value.type.strip_typedefs()
        if t.code in (gdb.TYPE_CODE_PTR, gdb.TYPE_CODE_REF, gdb.TYPE_CODE_RVALUE_REF):
            value = value.dereference()
            continue
        if is_tmalloc(t):
            return value
        if t.code == gdb.TYPE_CODE_STRUCT and len(t.fields()) >= 1:
            # Wrappers: Lock, UnsafeCell, ManuallyDrop, MaybeDangling ...
            inner = [f for f in t.fields() if f.name in ("value", "__0", "heap")]
            if inner:
                value = value[inner[0]]
                continue
        if t.code == gdb.TYPE_CODE_UNION:
            value = value["value"]
            continue
        break
    return None


def without_generics(name):
    """`a::b<c::D, e::F>::g<H>` as `a::b::g`: frame names of generic code are long."""
    out, depth = [], 0
    for ch in name or "?":
        depth += ch == "<"
        if depth == 0:
            out.append(ch)
        depth -= ch == ">"
    return "".join(out)


def frame_heap():
    """The nearest `Tmalloc` variable in the selected frame or its callers."""
    try:
        frame = gdb.selected_frame()
    except gdb.error:
        return None
    level = 0
    while frame is not None:
        try:
            block = frame.block()
        except RuntimeError:
            block = None
        while block is not None:
            for sym in block:
                if not (sym.is_variable or sym.is_argument):
                    continue
                t = sym.type.strip_typedefs()
                target = t.target() if t.code in (gdb.TYPE_CODE_PTR, gdb.TYPE_CODE_REF) else t
                if not is_tmalloc(target):
                    continue
                try:
                    found = as_tmalloc(sym.value(frame))
                    if found is not None:
                        where = f"`{sym.name}` in frame #{level} ({without_generics(frame.name())})"
                        return found, where
                except gdb.error:
                    pass
            if block.function is not None:
                break
            block = block.superblock
        frame = frame.older()
        level += 1
    return None


def symbol(name):
    sym = gdb.lookup_static_symbol(name) or gdb.lookup_global_symbol(name)
    if sym is None:
        raise HeapError("no tmalloc debug info here: load the debug binary, target/debug/tmalloc")
    return sym.value()


def atomic(value):
    """The number inside an Atomic* (its UnsafeCell), or the value itself."""
    for _ in range(4):
        t = value.type.strip_typedefs()
        names = [f.name for f in t.fields()] if t.code == gdb.TYPE_CODE_STRUCT else []
        inner = [n for n in ("v", "p", "value") if n in names]
        if not inner:
            break
        value = value[inner[0]]
    return value


def lock_held(lock):
    """Whether a tmalloc_sync::Lock is held: any non-zero state word."""
    t = lock.type.strip_typedefs()
    for f in t.fields():
        if f.name in ("locked", "state"):
            return int(atomic(lock[f.name])) != 0
    raise HeapError(f"cannot read the state of {t}")


def arenas():
    """Every arena made so far: (number, Arena value), in number order."""
    table, count = symbol(ARENAS), int(atomic(symbol(ARENA_COUNT)))
    found = []
    for n in range(count):
        p = atomic(table[n])
        if int(p) != 0:
            found.append((n, p.dereference()))
    return found


LOCKED_NOTE = (
    "; LOCKED: a tmalloc call is in progress, the heap may be mid-update; a tmalloc() "
    "called from gdb now gets NULL, a tfree() aborts (`tmalloc finish` first)"
)


def arena_heap(n, arena):
    where = "the main arena (arena 0)" if n == 0 else f"arena {n}"
    if lock_held(arena["heap"]):
        where += LOCKED_NOTE
    return as_tmalloc(arena["heap"]), where


def locate(expr):
    if expr.isdigit():
        n = int(expr)
        found = dict(arenas())
        if n not in found:
            raise HeapError(f"no arena {n}: there are {len(found)} (`tmalloc arenas` lists them)")
        return arena_heap(n, found[n])
    if expr:
        try:
            value = gdb.parse_and_eval(expr)
        except gdb.error as e:
            raise HeapError(f"cannot evaluate `{expr}`: {e}")
        found = as_tmalloc(value)
        if found is None:
            raise HeapError(f"`{expr}` is a {value.type}, not a tmalloc heap (Tmalloc<...>) or an arena number")
        return found, f"`{expr}`"
    if gdb.selected_inferior().pid == 0:
        raise HeapError("the program is not running: start it first (`starti` or `run`)")
    found = frame_heap()
    if found:
        return found
    listed = arenas()
    if not listed:
        raise HeapError(
            "no heap yet: nothing in this process has called tmalloc "
            "(try `print (void*) tmalloc(64)`)"
        )
    return arena_heap(*listed[0])


# ---------------------------------------------------------------- the model


class Block:
    """One entry of a walk, as the Rust walk reports it."""

    __slots__ = ("addr", "size", "usable", "state", "detail", "header", "count")

    def __init__(self, addr, size, state, usable=0, detail="", header=None, count=1):
        self.addr = addr  # the payload of used blocks, the block itself otherwise
        self.size = size
        self.usable = usable
        self.state = state  # used, free, mmapped, meta
        self.detail = detail
        self.header = addr if header is None else header
        self.count = count  # slots summarised by a used-slots / free-slots entry


class Heap:
    def __init__(self, value, where):
        self.value = value
        self.where = where
        manager = value["heap"]  # Tmalloc = front end + Heap (the heap manager)
        policy = manager["policy"]
        variants = [f for f in policy.type.fields() if not f.artificial and f.name]
        if len(variants) != 1:
            raise HeapError("cannot tell which policy is active (uninitialised heap?)")
        self.variant = variants[0].name
        self.policy = policy[variants[0]]["__0"]
        if self.variant == "Fit":
            rule = str(self.policy["index"]["rule"]).split("::")[-1]
            if rule not in FIT_RULES:
                raise HeapError(f"fit rule `{rule}` is not known to gdb/tmalloc.py")
            self.variant, self.name = rule, FIT_RULES[rule]
        elif self.variant in POLICIES:
            self.name = POLICIES[self.variant]
        else:
            raise HeapError(
                f"policy `{self.variant}` is not known to gdb/tmalloc.py "
                f"(it knows {', '.join([*POLICIES.values(), *FIT_RULES.values()])})"
            )
        self.source = manager["source"]
        regions = manager["regions"]
        count = int(regions["len"])
        if count > 64:
            raise HeapError(f"region count {count} is corrupt (at most 64)")
        self.regions = [
            (int(regions["list"][i]["start"]), int(regions["list"][i]["end"])) for i in range(count)
        ]
        for start, end in self.regions:
            if not start < end or end - start > 1 << 40:
                raise HeapError(f"region {start:#x}-{end:#x} is corrupt")

    def field(self, name):
        return int(self.value[name])

    def counters(self):
        """The source's SourceCounters, found by field name."""
        src = self.source
        for _ in range(4):
            fields = [f for f in src.type.strip_typedefs().fields() if not f.artificial]
            names = [f.name for f in fields]
            if "counters" in names:
                return src["counters"]
            if "inner" in names:
                src = src["inner"]
                continue
            if len(fields) == 1 and fields[0].name in ("Break", "Mapped"):
                src = src[fields[0].name]["__0"]  # HeapSource: the active variant
                continue
            break
        raise HeapError(f"source {src.type} has no counters")

    def tag_heap(self):
        return self.policy["tags"] if self.variant == "SlabTlsf" else self.policy

    # -- walks: each yields Blocks in address order, raising HeapError on damage

    def walk(self, slots=True):
        for start, end in self.regions:
            mem = read(start, end - start)
            if self.variant == "Buddy":
                yield from walk_buddy(mem, start, end)
            else:
                yield from self.walk_tags(mem, start, end, slots)

    def walk_tags(self, mem, start, end, slots):
        header_len, min_block = L("tag_header"), L("tag_min_block")
        used_bit, special_bit = L("tag_used"), L("tag_special")
        flags = used_bit | special_bit | L("tag_prev_used")
        at = start + L("tag_first_block")
        last = (start, end) == self.regions[-1]
        while True:
            if at + header_len > end:
                raise HeapError(f"block at {at:#x} runs past its region's end {end:#x}")
            header = u32(mem, at - start)
            size = header & ~flags
            if size == 0:
                if at != end - header_len:
                    raise HeapError(
                        f"corrupted header at {at:#x}: size 0 (an epilogue) before the region's end {end:#x}"
                    )
                return
            if size % 8 or size < min_block or at + size > end - header_len:
                raise HeapError(
                    f"corrupted header at {at:#x}: word {header:#010x} gives size {size}, "
                    f"not a multiple of 8 of at least {min_block} inside the region {start:#x}-{end:#x}"
                )
            if header & special_bit:
                yield from walk_run(mem, start, at - L("run_tag"), size, slots)
            elif header & used_bit:
                yield Block(at + header_len, size, "used", size - header_len, header=at)
            else:
                top = last and at + size == end - header_len
                yield Block(at, size, "free", detail="top (wilderness)" if top else "")
            at += size

    def large_blocks(self):
        head_off = field_offset(LIST_TYPE.format(LARGE_TYPE), "head")
        pages_off, lead_off = field_offset(LARGE_TYPE, "pages"), field_offset(LARGE_TYPE, "lead")
        head = read_u64(int(self.value["large"]["list"].address) + head_off)
        seen = 0
        node = head
        while node:
            fields = read(node, max(pages_off, lead_off) + 4)
            base, map_len = node - u32(fields, lead_off), u32(fields, pages_off) * 4096
            payload = node + L("large_header")
            if not base <= node < base + map_len:
                raise HeapError(f"corrupted large block header at {node:#x}: mapping {base:#x}+{map_len}")
            yield Block(payload, map_len, "mmapped", base + map_len - payload,
                        detail=f"own mapping {base:#x}-{base + map_len:#x}", header=node)
            node = read_u64(node)
            seen += 1
            if seen > 1 << 20:
                raise HeapError("the large-block list loops")


@functools.lru_cache(maxsize=None)
def run_layout():
    """Offsets of the `Run` fields, and the run header's size, from the debug info."""
    offsets = [field_offset(RUN_TYPE, f) for f in ("free", "magic", "class", "bump", "live")]
    return (*offsets, L("run_header"))


# Another binary loaded into this gdb may lay `Run` out differently.
gdb.events.new_objfile.connect(lambda _event: run_layout.cache_clear())


def walk_run(mem, start, base, tag_size, slots):
    """A slab run: its header as `meta`, then each slot, then the never-used tail."""
    run_tag, run_meta = L("run_tag"), L("run_meta")
    o = base + run_meta - start
    free_off, magic_off, class_off, bump_off, live_off, run_header = run_layout()
    magic = u32(mem, o + magic_off)
    expected = (L("run_magic") ^ (base >> 14)) & 0xFFFFFFFF
    if magic != expected:
        raise HeapError(f"corrupted run header at {base:#x}: magic {magic:#x}, expected {expected:#x}")
    cls = struct.unpack_from("<H", mem, o + class_off)[0]
    bump, live = u32(mem, o + bump_off), u32(mem, o + live_off)
    end = base + run_tag + tag_size
    if cls not in L("classes") or not run_header <= bump <= end - base:
        raise HeapError(f"corrupted run header at {base:#x}: class {cls}, bump {bump}")
    handed_out = (bump - run_header) // cls
    free = set()
    cursor = u64(mem, o + free_off)
    while cursor and len(free) <= handed_out:
        if not (base + run_header <= cursor < base + bump) or (cursor - base - run_header) % cls:
            raise HeapError(f"run at {base:#x}: free list points at {cursor:#x}, not one of its slots")
        free.add(cursor)
        cursor = u64(mem, cursor - start)
    if len(free) > handed_out:
        raise HeapError(f"run at {base:#x}: free list loops")
    used = handed_out - len(free)
    yield Block(base + run_tag, run_header - run_tag, "meta", header=base + run_tag,
                detail=f"slab run, class {cls}: {used} used, {len(free)} free, "
                       f"{(end - base - bump) // cls} never used (live field {live})")
    if slots:
        for i in range(handed_out):
            slot = base + run_header + i * cls
            if slot in free:
                yield Block(slot, cls, "free", detail=f"slot of class {cls}")
            else:
                yield Block(slot, cls, "used", cls, detail=f"slot of class {cls}")
    else:
        yield Block(base + run_header, used * cls, "used-slots", used * cls, detail=f"{used} slots", count=used)
        if free:
            yield Block(base + run_header, len(free) * cls, "free-slots", detail=f"{len(free)} slots of {cls}",
                        count=len(free))
    if base + bump < end:
        yield Block(base + bump, end - base - bump, "free", detail="never-used tail of the run")


def walk_buddy(mem, start, end):
    at = start
    while at < end:
        word = u64(mem, at - start)
        order, state = (word >> 8) & 0xFF, word & 0xFF
        magic_ok = word >> 32 == (L("buddy_magic") ^ (at >> 5)) & 0xFFFFFFFF
        orders_ok = L("buddy_min_order") <= order <= L("buddy_max_order")
        if not magic_ok or not orders_ok or state not in (L("buddy_used"), L("buddy_free")):
            raise HeapError(f"corrupted buddy header at {at:#x}: {word:#018x}")
        size = 1 << order
        if at % size or at + size > end:
            raise HeapError(f"buddy block at {at:#x} of order {order} is misplaced in {start:#x}-{end:#x}")
        if state == L("buddy_used"):
            payload = at + (1 << ((word >> 24) & 0xFF))
            yield Block(payload, size, "used", at + size - payload, detail=f"order {order}", header=at)
        else:
            yield Block(at, size, "free", detail=f"order {order}")
        at += size


def totals(blocks):
    t = {"used": 0, "used_bytes": 0, "free": 0, "free_bytes": 0, "largest": 0}
    for b in blocks:
        if b.state in ("used", "mmapped", "used-slots"):
            t["used"] += b.count
            t["used_bytes"] += b.usable
        elif b.state in ("free", "free-slots"):
            t["free"] += b.count
            t["free_bytes"] += b.size
            t["largest"] = max(t["largest"], b.size // b.count)
    return t


# ---------------------------------------------------------------- free lists


def list_entries(list_addr, link_offset, limit=1 << 20):
    """The element addresses of a tmalloc_alloc::list::List at `list_addr`."""
    fields = read(list_addr, 16)
    head, length = u64(fields, 0), u64(fields, 8)
    out = []
    link = head
    while link:
        out.append(link - link_offset)
        if len(out) > min(length, limit):
            raise HeapError(f"list at {list_addr:#x} is longer than its length {length}: corrupted")
        link = read_u64(link)
    if len(out) != length:
        raise HeapError(f"list at {list_addr:#x} holds {len(out)} elements, its length says {length}")
    return out


def bins_lists(bins):
    """(index, list address) of every list of a Bins<N, W, T>."""
    lists = bins["lists"]
    elem = lists.type.strip_typedefs().target().sizeof
    base = int(lists.address)
    n = lists.type.strip_typedefs().sizeof // elem
    return [(i, base + i * elem) for i in range(n)]


def tag_size(addr):
    return u32(read(addr, 4), 0) & ~(L("tag_used") | L("tag_prev_used") | L("tag_special"))


def describe_list(label, entries, size_of, mark=None):
    sizes = [size_of(e) for e in entries]
    shown = ", ".join(
        f"{e:#x} ({s}){' <- ' + mark[1] if mark and e == mark[0] else ''}"
        for e, s in zip(entries[:6], sizes[:6])
    )
    more = f", ... {len(entries) - 6} more" if len(entries) > 6 else ""
    span = f"sizes {min(sizes)}..{max(sizes)}" if sizes else ""
    print(f"  {label:<14} {len(entries):>7} blocks  {span:<22} {shown}{more}")


# ---------------------------------------------------------------- commands


def header(heap):
    regions = ", ".join(f"{s:#x}-{e:#x}" for s, e in heap.regions) or "none yet"
    print(f"tmalloc {heap.name} heap: {heap.where}; regions: {regions}")


class TmallocCommand(gdb.Command):
    """Inspect tmalloc's heap: tmalloc heap | bins | vis | stats | arenas (help tmalloc heap, ...)."""

    def __init__(self):
        super().__init__("tmalloc", gdb.COMMAND_DATA, gdb.COMPLETE_NONE, True)


class Subcommand(gdb.Command):
    def __init__(self, name):
        super().__init__("tmalloc " + name, gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        try:
            self.run(arg.strip())
        except HeapError as e:
            raise gdb.GdbError(f"tmalloc: {e}")
        except gdb.GdbError:
            raise
        except (gdb.error, gdb.MemoryError) as e:
            raise gdb.GdbError(f"tmalloc: {e}")
        except Exception as e:  # a bug here should still read as one line
            raise gdb.GdbError(f"tmalloc: internal error in gdb/tmalloc.py: {type(e).__name__}: {e}")


class HeapCommand(Subcommand):
    """Every block in address order: tmalloc heap [--slots] [EXPR]

Lists address, size, state (used / free / mmapped / meta) and the policy's
own fields. Used blocks show the address tmalloc returned; free blocks and
metadata their first byte. Slab runs are summarised in one line each; with
--slots every slot is listed. The last line totals the used blocks and their
usable bytes, which `tmalloc stats` reports as live."""

    def __init__(self):
        super().__init__("heap")

    def run(self, arg):
        words = arg.split()
        slots = "--slots" in words
        expr = " ".join(w for w in words if w != "--slots")
        heap = Heap(*locate(expr))
        header(heap)
        print(f"  {'address':>18} {'size':>10} {'usable':>10}  {'state':<10} details")
        blocks = [*heap.walk(slots), *heap.large_blocks()]
        for b in blocks:
            usable = b.usable if b.state in ("used", "mmapped", "used-slots") else ""
            print(f"  {b.addr:#18x} {b.size:>10} {usable:>10}  {b.state:<10} {b.detail}".rstrip())
        counted = totals(blocks)
        print(
            f"total: {pretty(counted['used'])} used blocks, {pretty(counted['used_bytes'])} usable bytes; "
            f"{pretty(counted['free'])} free blocks, {pretty(counted['free_bytes'])} bytes"
        )


class BinsCommand(Subcommand):
    """The free lists or size classes and what is in them: tmalloc bins [EXPR]"""

    def __init__(self):
        super().__init__("bins")

    def run(self, arg):
        heap = Heap(*locate(arg))
        header(heap)
        v = heap.variant
        if v == "Buddy":
            print("  one list per order (block size 2^order)")
            for i, addr in bins_lists(heap.policy["free"]):
                entries = list_entries(addr, field_offset(BUDDY_FREE_TYPE, "link"))
                if entries:
                    describe_list(f"order {i}", entries, lambda _e, i=i: 1 << i)
            return
        index = heap.tag_heap()["index"]
        if v in FIT_RULES:
            rule = {"First": "first that fits", "Next": "first after the rover",
                    "Best": "smallest that fits", "Worst": "largest"}[v]
            print(f"  one free list, LIFO; the search takes the {rule}")
            entries = list_entries(int(index["list"].address), L("tag_header"))
            mark = None
            if v == "Next":
                rover = read_u64(int(index["rover"].address))
                mark = (rover, "rover") if rover else None
            describe_list("free list", entries, tag_size, mark)
        else:
            what = {"Segregated": "exact-size bins to 504 B, then 4 per power of two",
                    "Tlsf": "32 exact 8-byte bins below 256 B, then 16 per power of two",
                    "SlabTlsf": "TLSF bins for the tagged blocks"}[v]
            print(f"  {what}; non-empty bins only")
            bins = index["bins"]
            words = bins["words"]
            nwords = words.type.strip_typedefs().sizeof // 8
            bitmap = [int(words[i]) for i in range(nwords)]
            for i, addr in bins_lists(bins):
                entries = list_entries(addr, L("tag_header"))
                bit = bitmap[i // 64] >> (i % 64) & 1
                if bool(entries) != bool(bit):
                    print(f"  bin {i}: bitmap bit {bit} disagrees with its {len(entries)} blocks")
                if entries:
                    describe_list(f"bin {i}", entries, tag_size)
        if v == "SlabTlsf":
            print("  slab classes: runs with a free slot, the one freed into last first")
            classes = heap.policy["slabs"]["classes"]
            spares = heap.policy["slabs"]["spare"]
            run_meta = L("run_meta")
            for c, cls in enumerate(L("classes")):
                runs = list_entries(int(classes[c].address), 0)
                spare = read_u64(int(spares[c].address))
                units = ", ".join(f"{r - run_meta:#x}" for r in runs[:6]) + (" ..." if len(runs) > 6 else "")
                note = f"; spare {spare - run_meta:#x}" if spare else ""
                print(f"  class {cls:>3} B   {len(runs):>7} runs    {units}{note}")


class VisCommand(Subcommand):
    """A picture of the heap: tmalloc vis [--cell BYTES] [EXPR]

One character per cell of BYTES bytes (chosen to fit 32 lines unless given),
showing the state of most of its bytes:
  #  used      :  used, with free holes      .  free      T  the top (wilderness)
  H  headers the policy keeps in the heap (slab run headers)
  s  a slab run with slots in use    o  a slab run's free or unused slots
Runs of identical lines are shown once, then `*`, as hexdump does."""

    def __init__(self):
        super().__init__("vis")

    def run(self, arg):
        words, cell_arg = arg.split(), None
        if "--cell" in words:
            i = words.index("--cell")
            try:
                cell_arg = int(words[i + 1], 0)
                assert cell_arg > 0
            except (IndexError, ValueError, AssertionError):
                raise HeapError("--cell takes a number of bytes, such as --cell 64")
            del words[i : i + 2]
        heap = Heap(*locate(" ".join(words)))
        header(heap)
        if not heap.regions:
            print("  (no regions yet)")
        blocks = list(heap.walk(slots=True))
        for start, end in heap.regions:
            span = end - start
            width = 64
            cell = cell_arg or 16
            while cell_arg is None and span // cell > width * 32:
                cell *= 2
            cells = {}
            for b in blocks:
                if not start <= b.header < end:
                    continue
                first = b.header
                last = first + b.size if b.state != "used" else b.header + b.size
                ch = {"used": "#", "meta": "H", "free": "."}[b.state]
                if "top" in b.detail:
                    ch = "T"
                elif "slot" in b.detail or "never-used" in b.detail:
                    ch = "s" if b.state == "used" else "o"
                c = (first - start) // cell
                while start + c * cell < last:
                    lo, hi = max(first, start + c * cell), min(last, start + (c + 1) * cell)
                    cells.setdefault(c, {}).setdefault(ch, 0)
                    cells[c][ch] += hi - lo
                    c += 1
            ncells = -(-span // cell)
            print(f"region {start:#x}-{end:#x}, {pretty(span)} bytes, one character = {cell} bytes")
            previous = None
            for row in range(0, ncells, width):
                line = "".join(picture(cells.get(c)) for c in range(row, min(row + width, ncells)))
                if line == previous:  # like hexdump: a run of equal lines is one `*`
                    if not repeated:
                        print("  " + " " * 14 + " *")
                    repeated = True
                    continue
                previous, repeated = line, False
                print(f"  {start + row * cell:#14x} {line}")
        large = list(heap.large_blocks())
        for b in large:
            print(f"  mmapped: {b.addr:#x}, {pretty(b.usable)} usable bytes, {b.detail}")
        print("  # used  : used with free holes  . free  T top  H header  s slots in use  o free slots")


def picture(cell):
    """The character of a cell, from the bytes of each state in it."""
    if not cell:
        return " "
    ch = max(cell.items(), key=lambda kv: (kv[1], kv[0] == "#"))[0]
    return ":" if ch == "#" and "." in cell else ch


class StatsCommand(Subcommand):
    """The allocator's Stats, as tmalloc_stats() computes them: tmalloc stats [EXPR]"""

    def __init__(self):
        super().__init__("stats")

    def run(self, arg):
        heap = Heap(*locate(arg))
        header(heap)
        c = heap.counters()
        t = totals(list(heap.walk(slots=True)))
        large = sum(1 for _ in heap.large_blocks())
        frag = 0.0 if t["free_bytes"] == 0 else 1 - t["largest"] / t["free_bytes"]
        rows = [
            ("live blocks", pretty(heap.field("live_blocks"))),
            ("live bytes", pretty(heap.field("live_bytes"))),
            ("peak live bytes", pretty(heap.field("peak_live_bytes"))),
            ("kernel bytes", pretty(int(c["heap_bytes"]) + int(c["mapped_bytes"]))),
            ("peak kernel bytes", pretty(int(c["peak_bytes"]))),
            ("brk calls", pretty(int(c["brk_calls"]))),
            ("mmap calls", pretty(int(c["mmap_calls"]))),
            ("munmap calls", pretty(int(c["munmap_calls"]))),
            ("free blocks", pretty(t["free"])),
            ("free bytes", pretty(t["free_bytes"])),
            ("largest free", pretty(t["largest"])),
            ("fragmentation", f"{frag:.3f}"),
            ("mapped blocks", pretty(large)),
        ]
        for name, val in rows:
            print(f"  {name:<18} {val:>14}")


class ArenasCommand(Subcommand):
    """Every arena of the process-wide heap: tmalloc arenas

One line per arena: its number, the threads using it, whether its lock is
held, its policy, and its live blocks and bytes. `tmalloc heap N` (and
bins, vis, stats) show arena N."""

    def __init__(self):
        super().__init__("arenas")

    def run(self, arg):
        listed = arenas()
        if not listed:
            print("tmalloc: no arena yet: nothing in this process has called tmalloc")
            return
        print(f"  {'arena':>5} {'threads':>7}  {'lock':<6} {'policy':<10} {'live blocks':>11} {'live bytes':>12}")
        for n, arena in listed:
            heap = Heap(*arena_heap(n, arena))
            lock = "held" if lock_held(arena["heap"]) else "free"
            print(
                f"  {n:>5} {int(atomic(arena['threads'])):>7}  {lock:<6} {heap.name:<10} "
                f"{pretty(heap.field('live_blocks')):>11} {pretty(heap.field('live_bytes')):>12}"
            )


class FinishCommand(Subcommand):
    """Run until the allocator call in progress returns to its caller: tmalloc finish

Selects the outermost frame inside tmalloc's allocator (or its system calls)
and runs `finish` on it. While a call is in progress its arena is locked: a
tmalloc() called from gdb then gets NULL, a tfree() aborts."""

    def __init__(self):
        super().__init__("finish")

    def run(self, arg):
        if gdb.selected_inferior().pid == 0:
            raise HeapError("the program is not running")
        frame, outermost = gdb.newest_frame(), None
        while frame is not None:
            if (frame.name() or "").startswith(ALLOCATOR_FRAMES):
                outermost = frame
            frame = frame.older()
        if outermost is None:
            print("tmalloc: not inside the allocator; nothing to finish")
            return
        caller = outermost.older()
        # A temporary breakpoint at the return address, not `finish`: finish
        # would put the returned value into $1, which `call tfree($1)` expects
        # to be the user's own first value.
        gdb.Breakpoint(f"*{caller.pc():#x}", internal=True, temporary=True)
        gdb.execute("continue")
        print(f"returned to {gdb.selected_frame().name()}")


TmallocCommand()
HeapCommand()
BinsCommand()
VisCommand()
StatsCommand()
ArenasCommand()
FinishCommand()
