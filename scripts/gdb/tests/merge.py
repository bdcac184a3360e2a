"""gdb.vq_shows_a_merged_request.

The kernel runs vblk.a_plugged_batch_of_adjacent_requests_goes_as_one: 32
adjacent 4 KiB writes sent inside one plug. GDB stops where the batch ends
(vb_unplug), then at the notify that hands the device their one merged
request (vb_notify), prints what plain GDB expressions read of that
request (@@@ HEAD / @@@ MEMBER), then runs `vq 0`."""
import gdb


def main():
    try:
        gdb.execute("help vq", to_string=True)
    except gdb.error:
        return print("@@@ NOTRUN the gdbinit did not load the vq command of the mdlos package")
    if gdb.lookup_static_symbol("vb_unplug") is None and gdb.lookup_global_symbol("vb_unplug") is None:
        return print("@@@ NOTRUN the kernel has no vb_unplug (drivers/virtio/vblk_queue.c)")
    # To the end of the batch first (not reported: the test judges the
    # second stop), then to the notify that follows it.
    gdb.execute("tbreak vb_unplug")
    gdb.execute("continue")
    if stop_at("vb_notify") != "vb_notify":
        return
    x = "((VB_DISK *)$rdi)"
    for h in range(val(x + "->QueueSize")):
        s = "%s->Subs[%d]" % (x, h)
        if not val("(unsigned long long)%s.Members" % s):
            continue
        print("@@@ HEAD %d irp=%#x members=%d" % (h, val("(unsigned long long)%s.Req->Irp" % s), val(s + ".MemberCount")))
        m = val("(unsigned long long)%s.Members" % s)
        while m:
            mem = "((struct _VB_MEMBER *)%#x)" % m
            print("@@@ MEMBER irp=%#x" % val("(unsigned long long)%s->Req->Irp" % mem))
            m = val("(unsigned long long)%s->Next" % mem)
    run("vq 0")


main()
