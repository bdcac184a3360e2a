/*
 * Object names from user mode: the counted string and OBJECT_ATTRIBUTES
 * that NtCreateEvent, NtOpenEvent, NtCreateFile and NtOpenFile take (NT's
 * RtlInitString and InitializeObjectAttributes, ntdll's job on NT).
 */
#include <nt.h>
#include <string.h>

void RtlInitString(STRING_T *s, const char *text)
{
    size_t n = text ? strlen(text) : 0;
    if (n > 0xFFFE)
        n = 0xFFFE;
    s->Buffer = (char *)text;
    s->Length = (uint16_t)n;
    s->MaximumLength = (uint16_t)(text ? n + 1 : 0);
}

void InitializeObjectAttributes(OBJECT_ATTRIBUTES_T *oa, STRING_T *name, uint32_t attributes)
{
    memset(oa, 0, sizeof(*oa));
    oa->Length = sizeof(*oa);
    oa->ObjectName = name;
    oa->Attributes = attributes;
}
