/*
 * A one-device driver for tests that need an IRP to go somewhere real:
 * IotCreateDevice makes \Driver\IoTestUtilN with one unnamed device whose
 * every major function is DISPATCH; IotDeleteDevice unloads it.
 */
#pragma once
#include "kernel/mdlos.h"

PDEVICE_OBJECT IotCreateDevice(PDRIVER_DISPATCH Dispatch, ULONG Flags);
void IotDeleteDevice(PDEVICE_OBJECT Device);
/* A dispatch routine that completes with STATUS_SUCCESS and Information =
 * the read/write length. */
NTSTATUS IotCompleteAtOnce(PDEVICE_OBJECT Device, PIRP Irp);
