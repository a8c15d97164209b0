# gdb -x gdb/tmalloc.gdb --args target/debug/tmalloc [ARGS]   (or: just gdb [ARGS])
#
# Shows that the heap is userland's doing: no [heap] at the first
# instruction, and a [heap] line once tmalloc moves the program break.

source gdb/tmalloc.py

# Expressions in C: casts such as (void*) parse, and $rdi means the register.
set language c
set pagination off
set confirm off

# The experiment runs its allocations in forked children: follow them.
set follow-fork-mode child

echo \n=== starti: the first instruction, before any code of ours has run\n
starti
info proc mappings

echo \n=== catch the first brk that moves the break (brk(0) only asks where it is)\n
catch syscall brk
condition $bpnum $rdi != 0
# The catchpoint stops at the system call's entry, then at its return.
continue
echo \n=== entering brk: the break is about to move\n
continue
echo \n=== brk returned: the kernel made the [heap] mapping\n
info proc mappings
delete

echo \n=== back out of the allocator: the call that made the heap returns\n
tmalloc finish

echo \nThe heap exists because userland asked for it. Try:\n
echo \   tmalloc heap               every block (also: tmalloc bins, vis, stats)\n
echo \   print (void*) tmalloc(64)  allocate from gdb; call tfree($1) frees it\n
echo \   info proc mappings         the [heap] line\n
echo \   continue                   run the rest (the experiment's children run detached)\n
