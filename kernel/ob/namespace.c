/*
 * The namespace: a tree of directory objects from the root "\", each
 * holding its entries in name order, and symbolic links that a lookup
 * follows (at most OB_MAX_LINKS of them per lookup: a chain that does not
 * end is STATUS_OBJECT_PATH_NOT_FOUND). Names compare case-insensitively
 * (NT's OBJ_CASE_INSENSITIVE, which every caller passes; NT upcases, so
 * do we).
 *
 * Who holds a named object alive: a permanent one (inserted with no
 * handle, or OBJ_PERMANENT) is held by the namespace's reference until
 * ObMakeTemporaryObject; a temporary one by its handles - its name goes
 * when the last handle closes (ObpDeleteNameCheck), before the handle's
 * reference is dropped. So an object found in a directory under the lock
 * always has a reference left, and referencing it there is safe. An entry
 * also holds a reference on its directory, so a directory outlives its
 * entries.
 *
 * The lock: one KMUTEX for the whole namespace. A mutex, not a spin lock,
 * because pool is allocated and names of up to 255 bytes compared along
 * directories under it, and nothing at DISPATCH_LEVEL needs a name: the
 * deferred delete never touches the namespace (an object has lost its
 * name before its last reference can go). Order: the namespace mutex
 * before any handle-table lock; no other lock is held while taking it.
 */
#include "kernel/ob/obp.h"

#define OB_MAX_LINKS 8
#define OB_PATH_BUFFER (2 * OB_MAX_NAME)

POBJECT_TYPE ObDirectoryObjectType, ObSymbolicLinkObjectType;
PVOID ObpRootDirectory;
static KMUTEX namespace_lock;

void ObpAcquireNamespaceLock(void)
{
    KI_ASSERT_IRQL_LE(APC_LEVEL);
    KeWaitForSingleObject(&namespace_lock, Executive, KernelMode, FALSE, NULL);
}

void ObpReleaseNamespaceLock(void)
{
    KeReleaseMutex(&namespace_lock, FALSE);
}

static CHAR upcase(CHAR c)
{
    return c >= 'a' && c <= 'z' ? (CHAR)(c - 'a' + 'A') : c;
}

int ObpCompareNames(PCSTR a, ULONG alen, PCSTR b, ULONG blen)
{
    ULONG n = alen < blen ? alen : blen;
    for (ULONG i = 0; i < n; i++) {
        int d = (UCHAR)upcase(a[i]) - (UCHAR)upcase(b[i]);
        if (d)
            return d;
    }
    return (int)alen - (int)blen;
}

static POBJECT_DIRECTORY dir_body(POBJECT_HEADER h)
{
    return OBJECT_HEADER_TO_OBJECT(h);
}

/* The entry named COMP in DIR, or NULL (lock held). */
static POBJECT_HEADER find_entry(POBJECT_HEADER dir, PCSTR comp, ULONG len)
{
    POBJECT_DIRECTORY d = dir_body(dir);
    for (PLIST_ENTRY e = d->Entries.Flink; e != &d->Entries; e = e->Flink) {
        POBJECT_HEADER h = CONTAINING_RECORD(e, OBJECT_HEADER, DirectoryLink);
        int c = ObpCompareNames(h->NameLast, strlen(h->NameLast), comp, len);
        if (c == 0)
            return h;
        if (c > 0)
            break;   /* sorted: it is not further on */
    }
    return NULL;
}

/*
 * Walk NAME (LEN bytes) from the root, with the lock held. On success
 * *FOUND is the object's header; *DIR is the directory the last component
 * was looked up in (or would be inserted in) and *LAST and *LAST_LEN that
 * component. Links in the middle are always followed, the last one only
 * with FOLLOW_LAST. BUF (OB_PATH_BUFFER bytes) holds the rewritten path.
 * STATUS_OBJECT_NAME_NOT_FOUND leaves *DIR and *LAST valid (insertion).
 * With REST not NULL, an object that is neither a directory nor a link in
 * the middle of the path ends the walk instead of failing it (a device:
 * what follows is the file name its driver sees): *FOUND is that object,
 * *LAST and *REST what followed it (from its "\").
 */
static NTSTATUS lookup_ex(PCSTR name, ULONG len, BOOLEAN follow_last, PCHAR buf, POBJECT_HEADER *dir_out, PCSTR *last,
                          ULONG *last_len, POBJECT_HEADER *found, ULONG *rest)
{
    if (rest)
        *rest = 0;
    POBJECT_HEADER root = OBJECT_TO_OBJECT_HEADER(ObpRootDirectory);
    *found = NULL;
    *dir_out = NULL;
    if (len == 0 || len >= OB_PATH_BUFFER || name[0] != '\\')
        return STATUS_OBJECT_NAME_INVALID;
    for (int links = 0;; links++) {
        if (len == 1) {   /* "\" itself */
            *found = root;
            *last = name;
            *last_len = 0;
            return STATUS_SUCCESS;
        }
        POBJECT_HEADER dir = root;
        ULONG pos = 1;
        BOOLEAN restarted = FALSE;
        while (!restarted) {
            ULONG end = pos;
            while (end < len && name[end] != '\\')
                end++;
            ULONG clen = end - pos;
            if (clen == 0)
                return STATUS_OBJECT_NAME_INVALID;   /* "\\" or a trailing "\" */
            BOOLEAN is_last = end == len;
            POBJECT_HEADER e = find_entry(dir, name + pos, clen);
            BOOLEAN link = e && e->Type == ObSymbolicLinkObjectType;
            if (is_last && !(link && follow_last)) {
                *dir_out = dir;
                *last = name + pos;
                *last_len = clen;
                *found = e;
                return e ? STATUS_SUCCESS : STATUS_OBJECT_NAME_NOT_FOUND;
            }
            if (!e)
                return STATUS_OBJECT_PATH_NOT_FOUND;
            if (link) {
                /* Splice: the target, then what followed the link. */
                if (links >= OB_MAX_LINKS)
                    return STATUS_OBJECT_PATH_NOT_FOUND;   /* a chain of links that does not end */
                POBJECT_SYMBOLIC_LINK l = OBJECT_HEADER_TO_OBJECT(e);
                ULONG rest = len - end;
                if ((ULONG)l->TargetLength + rest >= OB_PATH_BUFFER)
                    return STATUS_OBJECT_NAME_INVALID;
                memmove(buf + l->TargetLength, name + end, rest);
                memcpy(buf, l->Target, l->TargetLength);
                name = buf;
                len = l->TargetLength + rest;
                restarted = TRUE;
                continue;
            }
            if (e->Type != ObDirectoryObjectType) {
                if (!rest)
                    return STATUS_OBJECT_PATH_NOT_FOUND;   /* a non-directory in the middle of the path */
                *dir_out = dir;
                *found = e;
                *last = name + end;
                *last_len = len - end;
                *rest = len - end;
                return STATUS_SUCCESS;
            }
            dir = e;
            pos = end + 1;
        }
    }
}

static NTSTATUS lookup(PCSTR name, ULONG len, BOOLEAN follow_last, PCHAR buf, POBJECT_HEADER *dir_out, PCSTR *last,
                       ULONG *last_len, POBJECT_HEADER *found)
{
    return lookup_ex(name, len, follow_last, buf, dir_out, last, last_len, found, NULL);
}

NTSTATUS ObpInsertName(POBJECT_HEADER h, PVOID *Existing)
{
    CHAR buf[OB_PATH_BUFFER];
    POBJECT_HEADER dir, found;
    PCSTR last;
    ULONG last_len;
    if (Existing)
        *Existing = NULL;
    ObpAcquireNamespaceLock();
    NTSTATUS s = lookup(h->Name, strlen(h->Name), FALSE, buf, &dir, &last, &last_len, &found);
    if (s == STATUS_SUCCESS) {
        if (Existing) {
            ObReferenceObject(OBJECT_HEADER_TO_OBJECT(found));
            *Existing = OBJECT_HEADER_TO_OBJECT(found);
        }
        s = STATUS_OBJECT_NAME_COLLISION;
    } else if (s == STATUS_OBJECT_NAME_NOT_FOUND) {
        /* In name order: before the first entry that sorts after it. */
        POBJECT_DIRECTORY d = dir_body(dir);
        PLIST_ENTRY at = &d->Entries;
        for (PLIST_ENTRY e = d->Entries.Flink; e != &d->Entries; e = e->Flink) {
            POBJECT_HEADER o = CONTAINING_RECORD(e, OBJECT_HEADER, DirectoryLink);
            if (ObpCompareNames(o->NameLast, strlen(o->NameLast), h->NameLast, strlen(h->NameLast)) > 0) {
                at = e;
                break;
            }
        }
        InsertTailList(at, &h->DirectoryLink);   /* before AT */
        d->Count++;
        ObReferenceObject(OBJECT_HEADER_TO_OBJECT(dir));   /* the entry's reference on its directory */
        h->Directory = dir;
        h->Flags |= OB_FLAG_NAMED;
        s = STATUS_SUCCESS;
    }
    ObpReleaseNamespaceLock();
    return s;
}

/* Take H out of its directory (lock held); returns the directory to
 * dereference once the lock is released, or NULL. */
static POBJECT_HEADER unlink_name(POBJECT_HEADER h)
{
    if (!(h->Flags & OB_FLAG_NAMED))
        return NULL;
    POBJECT_HEADER dir = h->Directory;
    RemoveEntryList(&h->DirectoryLink);
    InitializeListHead(&h->DirectoryLink);
    dir_body(dir)->Count--;
    h->Directory = NULL;
    h->Flags &= ~OB_FLAG_NAMED;
    return dir;
}

void ObpRemoveName(POBJECT_HEADER h)
{
    ObpAcquireNamespaceLock();
    POBJECT_HEADER dir = unlink_name(h);
    ObpReleaseNamespaceLock();
    if (dir)
        ObDereferenceObject(OBJECT_HEADER_TO_OBJECT(dir));
}

void ObpDeleteNameCheck(POBJECT_HEADER h)
{
    if (!(h->Flags & OB_FLAG_NAMED))
        return;
    ObpAcquireNamespaceLock();
    /* Again under the lock: someone may have opened it by name meanwhile. */
    POBJECT_HEADER dir = NULL;
    if (h->HandleCount == 0 && !(h->Flags & OB_FLAG_PERMANENT))
        dir = unlink_name(h);
    ObpReleaseNamespaceLock();
    if (dir)
        ObDereferenceObject(OBJECT_HEADER_TO_OBJECT(dir));
}

void ObMakeTemporaryObject(PVOID Object)
{
    POBJECT_HEADER h = ObpGetHeader(Object, "ObMakeTemporaryObject");
    ObpAcquireNamespaceLock();
    BOOLEAN was_permanent = (h->Flags & OB_FLAG_PERMANENT) != 0;
    h->Flags &= ~OB_FLAG_PERMANENT;
    POBJECT_HEADER dir = unlink_name(h);
    ObpReleaseNamespaceLock();
    if (dir)
        ObDereferenceObject(OBJECT_HEADER_TO_OBJECT(dir));
    if (was_permanent)
        ObDereferenceObject(Object);   /* the namespace's ("permanent") reference */
}

NTSTATUS ObReferenceObjectByName(PCSTRING Name, POBJECT_TYPE ObjectType, PVOID *Object)
{
    CHAR buf[OB_PATH_BUFFER];
    POBJECT_HEADER dir, found;
    PCSTR last;
    ULONG last_len;
    *Object = NULL;
    if (!Name || !Name->Buffer)
        return STATUS_OBJECT_NAME_INVALID;
    ObpAcquireNamespaceLock();
    NTSTATUS s = lookup(Name->Buffer, Name->Length, TRUE, buf, &dir, &last, &last_len, &found);
    if (NT_SUCCESS(s))
        ObReferenceObject(OBJECT_HEADER_TO_OBJECT(found));
    ObpReleaseNamespaceLock();
    if (!NT_SUCCESS(s))
        return s;
    if (ObjectType && found->Type != ObjectType) {
        ObDereferenceObject(OBJECT_HEADER_TO_OBJECT(found));
        return STATUS_OBJECT_TYPE_MISMATCH;
    }
    *Object = OBJECT_HEADER_TO_OBJECT(found);
    return STATUS_SUCCESS;
}

NTSTATUS ObpReferenceObjectByNameEx(PCSTRING Name, POBJECT_TYPE ObjectType, PVOID *Object,
                                    CHAR Remaining[OB_MAX_NAME])
{
    CHAR buf[OB_PATH_BUFFER];
    POBJECT_HEADER dir, found;
    PCSTR last;
    ULONG last_len, rest;
    *Object = NULL;
    Remaining[0] = 0;
    if (!Name || !Name->Buffer)
        return STATUS_OBJECT_NAME_INVALID;
    ObpAcquireNamespaceLock();
    NTSTATUS s = lookup_ex(Name->Buffer, Name->Length, TRUE, buf, &dir, &last, &last_len, &found, &rest);
    if (NT_SUCCESS(s) && rest >= OB_MAX_NAME)
        s = STATUS_OBJECT_NAME_INVALID;
    if (NT_SUCCESS(s)) {
        memcpy(Remaining, last, rest);   /* copied under the lock: LAST may point into a link's target */
        Remaining[rest] = 0;
        ObReferenceObject(OBJECT_HEADER_TO_OBJECT(found));
    }
    ObpReleaseNamespaceLock();
    if (!NT_SUCCESS(s))
        return s;
    if (ObjectType && found->Type != ObjectType) {
        ObDereferenceObject(OBJECT_HEADER_TO_OBJECT(found));
        Remaining[0] = 0;
        return STATUS_OBJECT_TYPE_MISMATCH;
    }
    *Object = OBJECT_HEADER_TO_OBJECT(found);
    return STATUS_SUCCESS;
}

NTSTATUS ObCreateDirectory(PCSTRING Name)
{
    PVOID d;
    NTSTATUS s = ObCreateObject(ObDirectoryObjectType, Name, sizeof(OBJECT_DIRECTORY), &d);
    if (!NT_SUCCESS(s))
        return s;
    InitializeListHead(&((POBJECT_DIRECTORY)d)->Entries);
    return ObInsertObject(d, 0, NULL);   /* permanent */
}

NTSTATUS ObCreateSymbolicLink(PCSTRING LinkName, PCSTRING TargetName)
{
    if (!TargetName || !TargetName->Buffer || TargetName->Length == 0 || TargetName->Length >= OB_MAX_NAME ||
        TargetName->Buffer[0] != '\\')
        return STATUS_OBJECT_NAME_INVALID;
    if (!LinkName || LinkName->Length == 0)
        return STATUS_OBJECT_NAME_INVALID;
    PVOID o;
    NTSTATUS s = ObCreateObject(ObSymbolicLinkObjectType, LinkName, sizeof(OBJECT_SYMBOLIC_LINK), &o);
    if (!NT_SUCCESS(s))
        return s;
    POBJECT_SYMBOLIC_LINK l = o;
    memcpy(l->Target, TargetName->Buffer, TargetName->Length);
    l->Target[TargetName->Length] = 0;
    l->TargetLength = TargetName->Length;
    return ObInsertObject(o, 0, NULL);   /* permanent until ObDeleteSymbolicLink */
}

NTSTATUS ObDeleteSymbolicLink(PCSTRING LinkName)
{
    CHAR buf[OB_PATH_BUFFER];
    POBJECT_HEADER dir, found;
    PCSTR last;
    ULONG last_len;
    if (!LinkName || !LinkName->Buffer)
        return STATUS_OBJECT_NAME_INVALID;
    ObpAcquireNamespaceLock();
    NTSTATUS s = lookup(LinkName->Buffer, LinkName->Length, FALSE, buf, &dir, &last, &last_len, &found);
    if (NT_SUCCESS(s) && found->Type != ObSymbolicLinkObjectType)
        s = STATUS_OBJECT_TYPE_MISMATCH;
    if (NT_SUCCESS(s))
        ObReferenceObject(OBJECT_HEADER_TO_OBJECT(found));
    ObpReleaseNamespaceLock();
    if (!NT_SUCCESS(s))
        return s;
    ObMakeTemporaryObject(OBJECT_HEADER_TO_OBJECT(found));
    ObDereferenceObject(OBJECT_HEADER_TO_OBJECT(found));
    return STATUS_SUCCESS;
}

/* One entry at a time, each the first whose name sorts after the last
 * one seen: the callback runs without the lock (it may open, create or
 * print anything), and entries added or removed meanwhile do not upset
 * the walk. */
NTSTATUS ObEnumerateDirectory(PCSTRING DirectoryName, OB_ENUM_ROUTINE Routine, PVOID Context)
{
    PVOID dirobj;
    NTSTATUS s = ObReferenceObjectByName(DirectoryName, ObDirectoryObjectType, &dirobj);
    if (!NT_SUCCESS(s))
        return s;
    POBJECT_DIRECTORY d = dirobj;
    CHAR cursor[OB_MAX_NAME];
    ULONG cursor_len = 0;
    BOOLEAN first = TRUE;
    for (;;) {
        POBJECT_HEADER next = NULL;
        ObpAcquireNamespaceLock();
        for (PLIST_ENTRY e = d->Entries.Flink; e != &d->Entries; e = e->Flink) {
            POBJECT_HEADER h = CONTAINING_RECORD(e, OBJECT_HEADER, DirectoryLink);
            if (first || ObpCompareNames(h->NameLast, strlen(h->NameLast), cursor, cursor_len) > 0) {
                next = h;
                break;
            }
        }
        if (next) {
            ObReferenceObject(OBJECT_HEADER_TO_OBJECT(next));
            cursor_len = strlcpy(cursor, next->NameLast, sizeof(cursor));
        }
        ObpReleaseNamespaceLock();
        if (!next)
            break;
        first = FALSE;
        BOOLEAN more = Routine(OBJECT_HEADER_TO_OBJECT(next), cursor, Context);
        ObDereferenceObject(OBJECT_HEADER_TO_OBJECT(next));
        if (!more)
            break;
    }
    ObDereferenceObject(dirobj);
    return STATUS_SUCCESS;
}

static void delete_directory(PVOID Object)
{
    /* Every entry holds a reference on its directory: none can be left. */
    ASSERT(((POBJECT_DIRECTORY)Object)->Count == 0);
}

void ObpInitializeNamespace(void)
{
    KeInitializeMutex(&namespace_lock, 0);
    OBJECT_TYPE_INITIALIZER dir = {
        .GenericMapping = { STANDARD_RIGHTS_READ | DIRECTORY_QUERY | DIRECTORY_TRAVERSE, STANDARD_RIGHTS_WRITE,
                            STANDARD_RIGHTS_EXECUTE | DIRECTORY_QUERY | DIRECTORY_TRAVERSE, DIRECTORY_ALL_ACCESS },
        .ValidAccessMask = DIRECTORY_ALL_ACCESS,
        .DispatcherHeaderOffset = -1,
        .DeleteProcedure = delete_directory,
    };
    OBJECT_TYPE_INITIALIZER link = {
        .GenericMapping = { STANDARD_RIGHTS_READ | SYMBOLIC_LINK_QUERY, STANDARD_RIGHTS_WRITE,
                            STANDARD_RIGHTS_EXECUTE | SYMBOLIC_LINK_QUERY, SYMBOLIC_LINK_ALL_ACCESS },
        .ValidAccessMask = SYMBOLIC_LINK_ALL_ACCESS,
        .DispatcherHeaderOffset = -1,
    };
    NTSTATUS s = ObCreateObjectType("Directory", &dir, &ObDirectoryObjectType);
    ASSERT(NT_SUCCESS(s));
    s = ObCreateObjectType("SymbolicLink", &link, &ObSymbolicLinkObjectType);
    ASSERT(NT_SUCCESS(s));
    /* The root: unnamed in the tree (it is the tree), "\" to ObGetObjectName. */
    ANSI_STRING none = { 0, 0, NULL };
    s = ObCreateObject(ObDirectoryObjectType, &none, sizeof(OBJECT_DIRECTORY), &ObpRootDirectory);
    ASSERT(NT_SUCCESS(s));
    InitializeListHead(&((POBJECT_DIRECTORY)ObpRootDirectory)->Entries);
    POBJECT_HEADER root = OBJECT_TO_OBJECT_HEADER(ObpRootDirectory);
    root->Flags |= OB_FLAG_INSERTED | OB_FLAG_PERMANENT;
    static CHAR root_name[] = "\\";
    root->Flags |= OB_FLAG_STATIC;   /* never deleted; its name is not pool */
    root->Name = root_name;
    root->NameLast = root_name;
    static const char *const dirs[] = { "\\Device", "\\Driver", "\\BaseNamedObjects", "\\DosDevices" };
    for (ULONG i = 0; i < ARRAYSIZE(dirs); i++) {
        ANSI_STRING n;
        RtlInitAnsiString(&n, dirs[i]);
        s = ObCreateDirectory(&n);
        ASSERT(NT_SUCCESS(s));
    }
}
